"""Write a custom code-delivery channel in a few lines.

    from services.channels import custom_channel, run

    @custom_channel("twilio-sms", kind="sms")
    async def send(msg):
        await twilio.messages.create(to=msg.send_to, body=f"Your code is {msg.code}")

    if __name__ == "__main__":
        run()

A channel is a consumer of `custom.<name>` on the delivery exchange. While it runs,
`verification.send_code.v1` with `channel="twilio-sms"` reaches it; while it does not,
send_code answers `delivery_unavailable` and no code is lost silently. A handler that raises
is retried by redelivery up to the queue's delivery limit, then dead-lettered to
`<queue>.dlq`. The delivery carries the code: log anything but `msg.code`.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from faststream.rabbit import RabbitMessage

from contracts.topology import Topology, delivery_routing_key
from contracts.verification.v1 import Delivery
from services.runtime.broker import (
    declare_dead_letter,
    make_broker,
    raw_message,
    topic_exchange,
    work_queue,
)
from services.runtime.contacts import ContactKind, kind_of
from services.runtime.service import run as run_service
from services.runtime.settings import Mode, Settings

log = logging.getLogger("gatehouse.channels")

ChannelHandler = Callable[[Delivery], Awaitable[None]]
_KINDS = {"email": ContactKind.email, "sms": ContactKind.phone}


@dataclass(frozen=True)
class CustomChannel:
    name: str
    kind: Literal["email", "sms"]
    handler: ChannelHandler


_registered: list[CustomChannel] = []


def custom_channel(
    name: str, *, kind: Literal["email", "sms"]
) -> Callable[[ChannelHandler], ChannelHandler]:
    """Register `handler` as the channel `name`, reaching email addresses or phone numbers."""

    def decorator(handler: ChannelHandler) -> ChannelHandler:
        _registered.append(CustomChannel(name, kind, handler))
        return handler

    return decorator


def queue_name(topology: Topology, channel: str) -> str:
    """The work queue of custom channel `channel`; it has a `.dlq` like every work queue."""
    return topology.consumer_queue("channel", channel)


class ChannelWorker:
    """Consumes the delivery queues of some custom channels."""

    def __init__(self, channels: list[CustomChannel], settings: Settings) -> None:
        self.channels = channels
        self.settings = settings
        self.topology = settings.topology
        self.broker = make_broker(settings)
        self.queues = [queue_name(self.topology, c.name) for c in channels]
        for channel, name in zip(channels, self.queues, strict=True):
            queue = work_queue(settings, name, delivery_routing_key(channel.name))
            self.broker.subscriber(
                queue,
                topic_exchange(self.topology.delivery),
                decoder=raw_message,
                no_reply=True,
            )(self._consumer(channel))

    def _consumer(self, channel: CustomChannel) -> Callable[[RabbitMessage], Awaitable[None]]:
        async def consume(message: RabbitMessage) -> None:
            delivery = Delivery.model_validate_json(message.body)
            if kind_of(delivery.send_to) is not _KINDS[channel.kind]:
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
        await self.broker.connect()
        await self.broker.declare_exchange(topic_exchange(self.topology.delivery))
        for queue in self.queues:
            await declare_dead_letter(self.broker, self.settings, queue)
        await self.broker.start()

    async def stop(self) -> None:
        await self.broker.stop()


def run(settings: Settings | None = None) -> None:
    """Serve every channel registered with `@custom_channel` until interrupted."""
    settings = settings or Settings(mode=Mode.dev)

    async def main() -> None:
        worker = ChannelWorker(list(_registered), settings)
        await worker.start()
        log.info("serving channels %s", ", ".join(c.name for c in _registered))
        try:
            await asyncio.Event().wait()
        finally:
            await worker.stop()

    run_service(main())
