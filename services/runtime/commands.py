"""How one command message becomes its one reply.

In order: the size limit, the request schema, the message id (a state-changing command is
answered once per message id, see `services.runtime.recorded_replies`), the `idempotency-key`
header, then the handler in a unit of work (`services.runtime.work`) whose effect commits
together with the recorded reply. Whatever happens, the caller gets an envelope: a handler's
`GatehouseError` becomes its error reply, anything else `internal_error`.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from faststream.rabbit import RabbitMessage
from pydantic import BaseModel, ValidationError

from contracts.errors import ErrorCode
from contracts.topology import ADMIN, IDEMPOTENCY_HEADER, INTERNAL, WORKERS, Command
from gatehouse import _envelope as envelope
from gatehouse.errors import GatehouseError
from services.runtime import caller, recorded_replies, work
from services.runtime.db import Conn
from services.runtime.idempotency import IdempotencyStore
from services.runtime.logs import correlation_id, raised_at
from services.runtime.metrics import count_command
from services.runtime.recorded_replies import Replies
from services.runtime.settings import Settings
from services.runtime.work import UnitOfWork

# A handler as the runtime sees it: the command's unit of work and its request (validated
# against the command's schema) in, the command's result out (None only for commands without
# a result model of their own).
Handler = Callable[[UnitOfWork, Any], Awaitable[BaseModel | None]]

MAX_IDEMPOTENCY_KEY = 200
NO_CALLER = envelope.error(
    ErrorCode.invalid_params,
    "user_id: an admin command must carry the AMQP user_id property (the RabbitMQ user that"
    " publishes it), which names the actor in the audit trail",
    fields=[{"field": "user_id", "message": "required for admin commands"}],
)
# Commands accepted only through their own exchange: whoever may publish to it is who may
# send them (services.ops.broker_roles). The default exchange reaches any queue by name, so
# the queue a message sits in says nothing about who sent it; the exchange it came through does.
GUARDED = frozenset({ADMIN, INTERNAL, WORKERS})
SECRET_REPLAY = envelope.error(
    ErrorCode.invalid_operation,
    "a call with this idempotency key already succeeded; its reply held a secret and is not kept",
)


class Answerer:
    """Answers the commands of one started service (its pool and stores exist)."""

    def __init__(
        self,
        settings: Settings,
        log: logging.Logger,
        pool: asyncpg.Pool,
        replies: Replies,
        idempotency: IdempotencyStore,
    ) -> None:
        self.settings = settings
        self.log = log
        self.pool = pool
        self.replies = replies
        self.idempotency = idempotency

    async def answer(
        self, spec: Command[Any, Any], handler: Handler, message: RabbitMessage
    ) -> bytes:
        token = correlation_id.set(message.correlation_id)
        sender = caller.current.set(message.raw_message.user_id)
        try:
            reply = self._refusal(spec, message) or await self._answer(spec, handler, message)
            if spec.exchange == ADMIN:
                # Every operator call, whatever its outcome, with the RabbitMQ user that sent it.
                self.log.info(
                    "admin call %s by %s: %s",
                    spec.routing_key,
                    caller.get() or "(no user_id)",
                    envelope.outcome(reply),
                )
        except Exception as exc:  # the last line of defence: the caller always gets a reply
            self.log.error(
                "%s failed before its handler ran: %s at %s",
                spec.routing_key,
                type(exc).__name__,
                raised_at(exc),
            )
            reply = envelope.internal_error()
        finally:
            caller.current.reset(sender)
            correlation_id.reset(token)
        count_command(spec.routing_key, envelope.outcome(reply))
        return reply

    def _refusal(self, spec: Command[Any, Any], message: RabbitMessage) -> bytes | None:
        """The reply refusing a guarded command from the wrong place or sender, or None.

        An admin, internal or workers command is taken only through its own exchange; an
        admin command, also only from a user of `admitted_admins`. Nothing else is read, so
        a refused command changes nothing."""
        if spec.exchange not in GUARDED:
            return None
        expected = self.settings.topology.command_exchange(spec)
        through = message.raw_message.exchange
        sender = caller.get()
        if through != expected:
            why = f"{spec.routing_key} is accepted only through {expected}"
        elif spec.exchange == ADMIN and not sender:
            return NO_CALLER
        elif spec.exchange == ADMIN and sender not in self.settings.admitted_admins:
            why = f"the RabbitMQ user {sender!r} is not an admin user (GATEHOUSE_ADMIN_USERS)"
        else:
            return None
        self.log.warning(
            "refused %s from %s through %s: %s",
            spec.routing_key,
            sender or "(no user_id)",
            through or "the default exchange",
            why,
        )
        return envelope.error(ErrorCode.forbidden, why)

    async def _answer(
        self, spec: Command[Any, Any], handler: Handler, message: RabbitMessage
    ) -> bytes:
        body = message.body
        if len(body) > self.settings.max_message_bytes:
            return envelope.error(
                ErrorCode.invalid_params,
                f"body: message is larger than {self.settings.max_message_bytes} bytes",
                fields=[{"field": "body", "message": "message too large"}],
            )
        try:
            request = spec.request.model_validate_json(body)
        except ValidationError as exc:
            return envelope.invalid_params(exc)
        # FastStream invents a message id when there is none: read the one the caller sent.
        message_id = message.raw_message.message_id
        if message_id is not None and not recorded_replies.valid_message_id(message_id):
            return envelope.error(
                ErrorCode.invalid_params,
                f"message_id: must be 1 to {recorded_replies.MAX_MESSAGE_ID} characters, "
                "without NUL",
                fields=[{"field": "message_id", "message": "invalid"}],
            )
        once = None
        if message_id is not None and not spec.read_only:
            # Keyed by the request as understood, so a re-sent message spelled another way
            # (key order, spacing) is still the same request.
            canonical = request.model_dump_json().encode()
            once = Once(spec.routing_key, message_id, self.replies, canonical)
            if (recorded := await once.recorded()) is not None:
                return recorded
        key = (message.headers or {}).get(IDEMPOTENCY_HEADER)
        if key is None:
            return await self._run(spec, handler, request, message_id, once)
        return await self._run_once(spec, handler, request, str(key), message_id, once)

    async def _run(
        self,
        spec: Command[Any, Any],
        handler: Handler,
        request: BaseModel,
        message_id: str | None,
        once: "Once | None",
    ) -> bytes:
        """Run the handler with a unit of work: a flow that changes state commits its effect
        with its reply (`UnitOfWork.commit`); any other reply is recorded here."""
        unit = UnitOfWork(self.pool, message_id, envelope.ok, once.record if once else None)
        token = work.current.set(unit)
        try:
            try:
                result = await handler(unit, request)
                reply = unit.reply or unit.present(result)
            except GatehouseError as exc:
                if unit.reply is not None:
                    raise  # committed, then failed: a bug, answered as one below
                reply = envelope.from_exception(exc, spec.status_of(exc.code))
            finally:
                work.current.reset(token)
            if once is None or unit.reply is not None:
                return reply
            await once.record(self.pool, reply)
            return reply
        except recorded_replies.Duplicate:
            # Another delivery of this message committed first; ours rolled back.
            assert once is not None, "only a recorded reply can be a duplicate"
            return await once.recorded() or envelope.internal_error()
        except Exception as exc:
            # Type and place only: an exception's text can carry the values of the query
            # that failed.
            self.log.error(
                "%s failed with %s at %s", spec.routing_key, type(exc).__name__, raised_at(exc)
            )
            return envelope.internal_error()

    async def _run_once(
        self,
        spec: Command[Any, Any],
        handler: Handler,
        request: BaseModel,
        key: str,
        message_id: str | None,
        once: "Once | None",
    ) -> bytes:
        if not key or len(key) > MAX_IDEMPOTENCY_KEY or "\x00" in key:
            return envelope.error(
                ErrorCode.invalid_params,
                f"{IDEMPOTENCY_HEADER}: must be 1 to {MAX_IDEMPOTENCY_KEY} characters, without NUL",
                fields=[{"field": IDEMPOTENCY_HEADER, "message": "invalid"}],
            )
        if spec.read_only:
            # A lookup keeps no reply at all: a stored one would hand a user's data to whoever
            # repeats the key, and running it again changes nothing.
            return await self._run(spec, handler, request, message_id, once)
        store = self.idempotency
        # Scoped by the caller, bound to the request as understood (see `_answer`).
        slot = store.slot(spec.routing_key, caller.get(), key, request.model_dump_json().encode())
        if not await store.claim(slot):
            stored = await store.stored_reply(slot, wait_s=self.settings.rpc_timeout_s)
            if stored is not None:
                return stored
            return envelope.error(
                ErrorCode.invalid_operation, "a call with this idempotency key is still running"
            )
        reply = await self._run(spec, handler, request, message_id, once)
        outcome = envelope.outcome(reply)
        if outcome == ErrorCode.internal_error:
            await store.release(slot)
        elif spec.secret_reply and outcome == "ok":
            # Never keep a session token at rest: a replay learns the call happened, not its
            # secret, and nothing runs twice.
            await store.save(slot, SECRET_REPLAY)
        else:
            await store.save(slot, reply)
        return reply


class Once:
    """One delivery of a state-changing command with a message id: where its reply is kept."""

    def __init__(self, routing_key: str, message_id: str, store: Replies, body: bytes) -> None:
        self.routing_key = routing_key
        self.message_id = message_id
        self.store = store
        self.mac = store.request_mac(routing_key, message_id, body)

    async def recorded(self) -> bytes | None:
        return await self.store.find(self.routing_key, self.message_id, self.mac)

    async def record(self, con: Conn, reply: bytes) -> None:
        await self.store.record(con, self.routing_key, self.message_id, self.mac, reply)
