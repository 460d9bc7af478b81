"""A service's own publishes on raw aio-pika channels, past FastStream's per-message pipeline:
command replies and confirmed, mandatory deliveries."""

from collections.abc import Callable

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractRobustConnection


class Publisher:
    """Raw aio-pika channels for a service's own hot publishes, past FastStream's pipeline.

    - `reply()`: command replies to the caller's direct reply-to address, on a channel without
      publisher confirms (a reply only matters while the caller waits on this broker; a
      confirm would only add latency) and not mandatory (a caller that gave up and left must
      not make the reply bounce back).
    - `publish()`: mandatory, persistent, confirmed; raises `DeliveryError` when no queue is
      bound for the routing key (how an unconsumed delivery channel is detected).
    """

    def __init__(
        self, amqp_url: str, *, trace: bool = False, guard: Callable[[str], None] | None = None
    ) -> None:
        """`guard`: called with what is about to be published, before it is; a service passes
        `work.forbid_network`, which refuses a publish while a unit of work's transaction is
        held."""
        self._url = amqp_url
        self._trace = trace
        self._guard = guard
        self._connection: AbstractRobustConnection | None = None
        self._replies: aio_pika.abc.AbstractExchange | None = None
        self._confirmed: AbstractChannel | None = None
        self._exchanges: dict[str, aio_pika.abc.AbstractExchange] = {}
        self._reply_channel: AbstractChannel | None = None
        self._reply_exchanges: dict[str, aio_pika.abc.AbstractExchange] = {}

    async def connect(self) -> None:
        self._connection = await aio_pika.connect_robust(self._url)
        self._reply_channel = await self._connection.channel(publisher_confirms=False)
        self._replies = self._reply_channel.default_exchange
        self._confirmed = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )

    async def reply(
        self,
        reply_to: str,
        correlation_id: str | None,
        body: bytes,
        *,
        exchange: str | None = None,
    ) -> None:
        """To `reply_to` through the default exchange, or through `exchange` (a hook worker
        answers on the workers exchange: it may not publish to the default one)."""
        assert self._replies is not None, "Publisher.connect() was not awaited"
        target = self._replies
        if exchange is not None:
            assert self._reply_channel is not None
            target = self._reply_exchanges.get(exchange) or await self._reply_channel.get_exchange(
                exchange, ensure=False
            )
            self._reply_exchanges[exchange] = target
        await target.publish(
            aio_pika.Message(body, content_type="application/json", correlation_id=correlation_id),
            routing_key=reply_to,
            mandatory=False,
        )

    async def publish(
        self, exchange: str, routing_key: str, body: bytes, *, message_id: str
    ) -> None:
        if self._guard is not None:
            self._guard(f"a publish to {exchange}")
        assert self._confirmed is not None, "Publisher.connect() was not awaited"
        target = self._exchanges.get(exchange)
        if target is None:
            target = await self._confirmed.get_exchange(exchange, ensure=False)
            self._exchanges[exchange] = target
        message = aio_pika.Message(
            body,
            content_type="application/json",
            message_id=message_id,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers={},
        )
        if not self._trace:
            await target.publish(message, routing_key=routing_key, mandatory=True)
            return
        from opentelemetry import propagate, trace

        tracer = trace.get_tracer("gatehouse")
        with tracer.start_as_current_span(
            f"{exchange} {routing_key} publish", kind=trace.SpanKind.PRODUCER
        ):
            propagate.inject(message.headers)  # the consumer continues this trace
            await target.publish(message, routing_key=routing_key, mandatory=True)

    async def channel(self) -> AbstractChannel:
        """A channel of its own on this connection, for the caller to close: a declare that
        fails (an inequivalent argument) closes its channel, which must not be a publishing
        one."""
        assert self._connection is not None, "Publisher.connect() was not awaited"
        return await self._connection.channel()

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
