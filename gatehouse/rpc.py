"""RPC client for Gatehouse commands over RabbitMQ direct reply-to.

One connection, one channel and one reply consumer serve every call: requests are
multiplexed and matched to their futures by correlation id, so concurrent callers never
wait on each other (FastStream's `broker.request()` takes a lock and opens a reply consumer
per call). Requests are published `mandatory`, so a routing key nobody serves (an unknown
command, a retired version) comes back at once as `unknown_command` instead of a timeout.
"""

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractRobustConnection,
    FieldValue,
)
from aio_pika.exceptions import DeliveryError
from pydantic import BaseModel

from contracts.errors import ErrorCode
from contracts.topology import IDEMPOTENCY_HEADER, REPLY_TO, Command, Req, Res, Topology
from gatehouse import _envelope as envelope
from gatehouse._transport_logs import silence_transport_debug
from gatehouse.errors import GatehouseError

log = logging.getLogger("gatehouse.rpc")


class RemoteError(GatehouseError):
    """An error reply from another service, carrying its code and details."""


def amqp_user(amqp_url: str) -> str:
    """The user an AMQP URL signs in as (`guest` when it names none, as aio-pika does): what
    RabbitMQ will accept as the `user_id` of the messages published on its connection."""
    return unquote(urlsplit(amqp_url).username or "guest")


class RpcClient:
    def __init__(
        self,
        amqp_url: str,
        topology: Topology,
        *,
        timeout_s: float = 10.0,
        propagate_trace: bool = False,
        exchange: str | None = None,
        message_ids: Callable[[], str | None] | None = None,
        guard: Callable[[str], None] | None = None,
        user_id: str | None = None,
        name: str | None = None,
        replies: tuple[str, str] | None = None,
    ) -> None:
        """`message_ids`: where a request without a `message_id` gets one (None: a random
        id). A service passes `work.child_message_id`, so that the calls its handlers make
        carry ids derived from the command being handled (see `call_raw`).

        `guard`: called with what is about to be sent, before anything is; a service passes
        `work.forbid_network`, which refuses a call while a unit of work's transaction is held.

        `replies`: (exchange, queue) to be answered through instead of direct reply-to: the
        client declares `queue` exclusive, binds it to `exchange` under its own name and
        sends that name as `reply_to`. For callees that may not publish to the default
        exchange (hook workers answer on the workers exchange)."""
        self._url = amqp_url
        # Shown by the broker (rabbitmqctl list_connections, the management UI) for this client.
        self._name = name
        self._message_ids = message_ids
        self._guard = guard
        # Sent as the AMQP `user_id` of every request: RabbitMQ checks it is the user this
        # connection authenticated as, and admin commands need it (it names their actor).
        self._user_id = user_id
        # The commands exchange unless told otherwise (identity calls hooks on theirs).
        self._exchange_name = exchange or topology.commands
        self._propagate_trace = propagate_trace
        self._topology = topology
        self._timeout_s = timeout_s
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        self._listening = asyncio.Event()  # the reply consumer is in place
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._exchanges: dict[str, aio_pika.abc.AbstractExchange] = {}
        self._replies = replies
        self._reply_to = REPLY_TO if replies is None else replies[1]

    @property
    def topology(self) -> Topology:
        """The names this client calls by."""
        return self._topology

    async def connect(self) -> None:
        silence_transport_debug()
        properties: dict[str, FieldValue] = {"connection_name": self._name} if self._name else {}
        self._connection = await aio_pika.connect_robust(self._url, client_properties=properties)
        # Confirms are what make a mandatory publish that no queue takes raise at once
        # (aiormq matches a basic.return to its publish only on a confirming channel).
        self._channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        await self._consume_replies()
        # aio-pika restores the channel after a reconnect, but not this consumer: the reply
        # pseudo-queue is not a queue it declared, so it is not among those it restores, and
        # every later call would fail ("fast reply consumer does not exist").
        self._connection.close_callbacks.add(self._on_connection_lost)
        self._connection.reconnect_callbacks.add(self._on_reconnect)
        self._exchange = await self._channel.get_exchange(self._exchange_name, ensure=False)

    async def _consume_replies(self) -> None:
        assert self._channel is not None
        if self._replies is None:
            replies = await self._channel.get_queue(REPLY_TO, ensure=False)
        else:
            exchange, name = self._replies
            # Exclusive: only this connection may consume it, and it goes with it.
            replies = await self._channel.declare_queue(name, exclusive=True, auto_delete=True)
            await replies.bind(exchange, routing_key=name)
        await replies.consume(self._on_reply, no_ack=True)
        self._listening.set()

    def _on_connection_lost(self, *_: object) -> None:
        self._listening.clear()

    async def _on_reconnect(self, *_: object) -> None:
        # Replies to calls made before the drop were addressed to the old connection and are
        # gone: those calls end as `timeout`. Calls made from now on are answered.
        if self._replies is not None:
            # A queue this client declared: aio-pika restores it, its binding and consumer.
            self._listening.set()
            return
        try:
            await self._consume_replies()
        except Exception as exc:  # the next reconnect tries again
            log.warning("could not listen for replies again: %s", type(exc).__name__)

    async def close(self) -> None:
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def __aenter__(self) -> "RpcClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def call_raw(
        self,
        routing_key: str,
        body: bytes,
        *,
        idempotency_key: str | None = None,
        timeout_s: float | None = None,
        message_id: str | None = None,
        exchange: str | None = None,
    ) -> bytes:
        """Send one command and return the reply envelope bytes; never raises for a remote error.
        It goes to `exchange`, by default the one this client was made for.

        Every request carries a message id: a state-changing command is answered once per
        message id, so a caller that re-sends the same `message_id` (after a timeout, say) gets
        the first reply and nothing runs twice. Inside a service's handler the id derives from
        the handler's own message (`message_ids`), so a redelivered command's calls are
        answered the same way.
        """
        if self._guard is not None:
            self._guard(f"an RPC call to {routing_key}")
        if self._exchange is None or self._channel is None:
            raise RuntimeError("RpcClient.connect() was not awaited")
        target = self._exchange
        if exchange is not None and exchange != self._exchange_name:
            target = self._exchanges.get(exchange) or await self._channel.get_exchange(
                exchange, ensure=False
            )
            self._exchanges[exchange] = target
        correlation_id = uuid.uuid4().hex
        if not message_id and self._message_ids is not None:
            message_id = self._message_ids()
        message_id = message_id or uuid.uuid4().hex
        headers: dict[str, Any] = {IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key else {}
        if self._propagate_trace:
            from opentelemetry.propagate import inject

            inject(headers)  # the callee's telemetry middleware continues this trace
        timeout = timeout_s or self._timeout_s
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        try:
            if not self._listening.is_set():
                # Reconnecting: a request sent now could not be answered (and would close the
                # channel: no reply consumer). Wait for it, within the call's own time.
                await asyncio.wait_for(self._listening.wait(), timeout)
            await target.publish(
                aio_pika.Message(
                    body,
                    content_type="application/json",
                    correlation_id=correlation_id,
                    message_id=message_id,
                    reply_to=self._reply_to,
                    headers=headers or None,
                    user_id=self._user_id,
                ),
                routing_key=routing_key,
                mandatory=True,
            )
            # A timer on the future itself: wait_for wraps every call in extra scheduling.
            expiry = asyncio.get_running_loop().call_later(timeout, _expire, future)
            try:
                return await future
            finally:
                expiry.cancel()
        except DeliveryError:
            return envelope.error(
                ErrorCode.unknown_command,
                f"no service serves {routing_key}",
                routing_key=routing_key,
            )
        except TimeoutError:
            return envelope.error(
                ErrorCode.timeout,
                f"no reply to {routing_key} within {timeout:g}s",
            )
        finally:
            self._pending.pop(correlation_id, None)

    async def call(
        self,
        command: Command[Any, Any],
        request: BaseModel | dict[str, Any],
        *,
        idempotency_key: str | None = None,
        timeout_s: float | None = None,
        message_id: str | None = None,
    ) -> dict[str, Any]:
        """Send a command to its exchange (`Topology.command_exchange`) and return the decoded
        envelope `{"ok": ..., ...}`."""
        body = (
            request.model_dump_json(exclude_none=True).encode()
            if isinstance(request, BaseModel)
            else json.dumps(request).encode()
        )
        reply = await self.call_raw(
            command.routing_key,
            body,
            idempotency_key=idempotency_key,
            timeout_s=timeout_s,
            message_id=message_id,
            exchange=self._topology.command_exchange(command),
        )
        return envelope.parse(reply)

    async def result(
        self,
        command: Command[Req, Res],
        request: Req,
        *,
        idempotency_key: str | None = None,
        timeout_s: float | None = None,
        message_id: str | None = None,
    ) -> Res:
        """Send a command and return its typed result, raising `RemoteError` on an error reply."""
        reply = await self.call(
            command,
            request,
            idempotency_key=idempotency_key,
            timeout_s=timeout_s,
            message_id=message_id,
        )
        if not reply["ok"]:
            err = reply["error"]
            raise RemoteError(err["message"], code=ErrorCode(err["code"]), **err.get("details", {}))
        return command.result.model_validate(reply["result"])

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._pending.get(message.correlation_id or "")
        if future is not None and not future.done():
            future.set_result(message.body)


def _expire(future: asyncio.Future[bytes]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())
