"""Write a custom code-delivery channel in a few lines.

    from gatehouse.channels import custom_channel, run

    @custom_channel("twilio-sms", kind="sms")
    async def send(msg):
        await twilio.messages.create(to=msg.send_to, body=f"Your code is {msg.code}")

    if __name__ == "__main__":
        run()

A channel is a consumer of `custom.<name>` on the delivery exchange. The worker announces
each channel and its `kind` to verification (`verification.register_channel.v1`, on the
workers exchange) at start and again every `channel_announce_interval_s`; verification then
declares the channel's queue `<ns>.channel.<name>` (and its `.dlq`) bound to `custom.<name>`,
and the worker consumes it: it signs in as the workers user (docs/operations/broker-users.md), which
may read its queue but not bind anything to the delivery exchange. Until verification has
heard it (it may not be up yet), the worker keeps announcing and consumes once it has.
`verification.send_code.v1` with `channel="twilio-sms"` then reaches it; with no queue bound,
send_code answers `delivery_unavailable` and no code is lost silently. send_code refuses at
once a recipient the channel cannot reach (an email address for an SMS channel) instead of
handing it a code it would have to drop. A channel without a kind is sent every recipient. A
handler that raises is retried by redelivery up to the queue's delivery limit, then
dead-lettered to `<queue>.dlq`. The delivery carries the code: log anything but `msg.code`.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aio_pika.exceptions import AMQPError
from faststream.rabbit import RabbitMessage, RabbitQueue

from contracts.topology import Topology
from contracts.verification import v1
from contracts.verification.v1 import Delivery
from gatehouse._broker import make_broker, raw_message
from gatehouse._loop import run as run_service
from gatehouse._recipients import CHANNEL_REACHES, Channel, kind_of
from gatehouse.rpc import RemoteError, RpcClient
from gatehouse.settings import BrokerSettings

__all__ = [
    "BrokerSettings",
    "ChannelHandler",
    "ChannelWorker",
    "CustomChannel",
    "Kind",
    "custom_channel",
    "queue_name",
    "run",
]

log = logging.getLogger("gatehouse.channels")

ChannelHandler = Callable[[Delivery], Awaitable[None]]
# A custom channel reaches what the built-in channel of that name does (or any recipient).
Kind = Channel


@dataclass(frozen=True)
class CustomChannel:
    name: str
    kind: Kind | None
    handler: ChannelHandler

    def __post_init__(self) -> None:
        # Validated now, so a bad or built-in name fails at import rather than at start.
        self.announcement()

    def announcement(self) -> v1.RegisterChannel:
        kind = None if self.kind is None else v1.ChannelKind(self.kind)
        return v1.RegisterChannel(name=self.name, kind=kind)


_registered: list[CustomChannel] = []


def custom_channel(
    name: str, *, kind: Kind | None = None
) -> Callable[[ChannelHandler], ChannelHandler]:
    """Register `handler` as the channel `name`, reaching email addresses (`kind="email"`),
    phone numbers (`kind="sms"`), or, without a kind, any recipient."""

    def decorator(handler: ChannelHandler) -> ChannelHandler:
        _registered.append(CustomChannel(name, kind, handler))
        return handler

    return decorator


def queue_name(topology: Topology, channel: str) -> str:
    """The work queue of custom channel `channel`; it has a `.dlq` like every work queue."""
    return topology.channel_queue(channel)


class ChannelWorker:
    """Consumes the delivery queues of some custom channels."""

    def __init__(self, channels: list[CustomChannel], settings: BrokerSettings) -> None:
        self.channels = channels
        self.settings = settings
        self.topology = settings.topology
        self.broker = make_broker(settings)
        self._announcer: asyncio.Task[None] | None = None
        self._consuming = False
        self._serving = asyncio.Event()
        self.queues = [queue_name(self.topology, c.name) for c in channels]
        for channel, name in zip(channels, self.queues, strict=True):
            # Declared (passively: it must exist) and bound by verification, not here.
            queue = RabbitQueue(name, durable=True, declare=False)
            self.broker.subscriber(queue, decoder=raw_message, no_reply=True)(
                self._consumer(channel)
            )

    def _consumer(self, channel: CustomChannel) -> Callable[[RabbitMessage], Awaitable[None]]:
        async def consume(message: RabbitMessage) -> None:
            delivery = Delivery.model_validate_json(message.body)
            # Verification checks the kind before it makes a code; this catches a delivery
            # sent before it heard of the channel (its first seconds, an old verification).
            if (
                channel.kind is not None
                and kind_of(delivery.send_to) is not CHANNEL_REACHES[channel.kind]
            ):
                log.error(
                    "channel %s reaches %s only; dropping delivery %s to the dead-letter queue",
                    channel.name,
                    channel.kind,
                    message.message_id,
                )
                await message.reject(requeue=False)
                return
            await channel.handler(delivery)

        return consume

    async def start(self) -> None:
        """Announce the channels, and consume their queues once verification has heard (and
        so declared them); until then that happens in the background."""
        await self.broker.connect()
        heard = await self._announce_safely()
        if heard:
            await self._consume()
        self._announcer = asyncio.create_task(self._keep_announcing(heard))

    async def _consume(self) -> None:
        if not self._consuming:
            await self.broker.start()
            self._consuming = True
            self._serving.set()

    async def serving(self) -> None:
        """Return once the channels' queues are consumed: verification has heard of them (and
        declared their queues), so `send_code` reaches them from now on."""
        await self._serving.wait()

    async def _announce(self) -> bool:
        async with RpcClient(
            self.settings.amqp_url.get_secret_value(), self.topology, timeout_s=5.0
        ) as rpc:
            for channel in self.channels:
                request = channel.announcement()
                try:
                    await rpc.result(v1.register_channel, request)
                except RemoteError as exc:
                    log.warning("could not register channel %s: %s", channel.name, exc.code)
                    return False
        return True

    async def _announce_safely(self) -> bool:
        try:
            return await self._announce()
        except (OSError, TimeoutError, AMQPError) as exc:
            log.warning("could not announce channels: %s", type(exc).__name__)
            return False

    async def _keep_announcing(self, heard: bool) -> None:
        """Announce again and again until stop(): verification forgets the channels nobody
        announced for a while, so a kind is known only as long as its workers run."""
        interval = self.settings.channel_announce_interval_s
        while True:
            # Until verification has heard us (it may not be up yet), retry sooner: until then
            # no code reaches the channel (`send_code` answers `delivery_unavailable`).
            await asyncio.sleep(interval if heard else min(interval, 1.0))
            heard = await self._announce_safely()
            if heard:
                try:
                    await self._consume()
                except (OSError, TimeoutError, AMQPError) as exc:
                    log.warning("could not consume the channels: %s", type(exc).__name__)

    async def stop(self) -> None:
        if self._announcer is not None:
            self._announcer.cancel()
            await asyncio.gather(self._announcer, return_exceptions=True)
            self._announcer = None
        await self.broker.stop()


def run(settings: BrokerSettings | None = None) -> None:
    """Serve every channel registered with `@custom_channel` until interrupted."""
    settings = settings or BrokerSettings()

    async def main() -> None:
        worker = ChannelWorker(list(_registered), settings)
        await worker.start()
        log.info("serving channels %s", ", ".join(c.name for c in _registered))
        try:
            await asyncio.Event().wait()
        finally:
            await worker.stop()

    run_service(main())
