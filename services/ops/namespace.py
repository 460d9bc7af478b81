"""What one namespace declares on the broker, and how to remove it.

Every name comes from the code that declares it: the services are built (not started)
and asked for their queues, and `Topology` gives the exchanges. Nothing lists the broker,
so no management plugin or `rabbitmqctl` is needed, and nothing outside the namespace can
match by accident.
"""

from dataclasses import dataclass

import aio_pika
from aio_pika.exceptions import ChannelNotFoundEntity

from gatehouse.channels import queue_name as channel_queue

# Who may do what in a namespace is defined in services.ops.broker_roles; re-exported where it was.
from services.ops.broker_roles import Permission as Permission
from services.ops.broker_roles import permissions as permissions
from services.ops.system import SystemSettings, build_services
from services.runtime.settings import Mode


@dataclass(frozen=True)
class Footprint:
    """The queues and exchanges of one namespace, by kind."""

    # One per command and per event or delivery consumer; quorum in production.
    work_queues: tuple[str, ...]
    # `<work queue>.dlq`, one each, of the same type.
    dead_letter_queues: tuple[str, ...]
    # Classic, declared only when a retry first needs that delay (notifier).
    delay_queues: tuple[str, ...]
    exchanges: tuple[str, ...]

    @property
    def queues(self) -> tuple[str, ...]:
        return self.work_queues + self.dead_letter_queues + self.delay_queues


def footprint(settings: SystemSettings, channels: tuple[str, ...] = ()) -> Footprint:
    """The names the services declare with `settings`, plus custom `channels` (run by users'
    workers, so only their names tell the code about them)."""
    topology = settings.topology
    work: list[str] = []
    delay: list[str] = []
    for service in build_services(settings):
        work.extend(service.dead_lettered)
        delay.extend(service.extra_queues)
    work.extend(channel_queue(topology, channel) for channel in channels)
    return Footprint(
        work_queues=tuple(work),
        dead_letter_queues=tuple(topology.dead_letter_queue(q) for q in work),
        delay_queues=tuple(delay),
        exchanges=topology.declared_exchanges(),
    )


def everything(settings: SystemSettings) -> SystemSettings:
    """SystemSettings under which the services declare the most: dev mode adds the console channel
    and needs no provider, and every notifier channel is on. A purge uses these, so that it
    also finds what an earlier run with other settings left."""
    return settings.model_copy(update={"mode": Mode.dev, "notify_channels": ["email", "sms"]})


@dataclass(frozen=True)
class Queue:
    name: str
    messages: int
    consumers: int


@dataclass(frozen=True)
class Found:
    """What of a footprint exists on the broker now. Delay queues are not looked for: they
    are named by the hundred, nearly all missing, and a miss costs a channel (AMQP 404)."""

    queues: tuple[Queue, ...]
    exchanges: tuple[str, ...]
    delay_queues: tuple[str, ...]

    @property
    def messages(self) -> int:
        return sum(q.messages for q in self.queues)

    @property
    def in_use(self) -> tuple[Queue, ...]:
        return tuple(q for q in self.queues if q.consumers)


async def find(amqp_url: str, names: Footprint) -> Found:
    """Check each work and dead-letter queue and each exchange with a passive declare."""
    queues: list[Queue] = []
    exchanges: list[str] = []
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for name in names.work_queues + names.dead_letter_queues:
            try:
                result = (await channel.declare_queue(name, passive=True)).declaration_result
            except ChannelNotFoundEntity:  # the 404 closed the channel
                channel = await connection.channel()
                continue
            queues.append(Queue(name, result.message_count or 0, result.consumer_count or 0))
        for name in names.exchanges:
            try:
                await channel.declare_exchange(name, passive=True)
            except ChannelNotFoundEntity:
                channel = await connection.channel()
                continue
            exchanges.append(name)
    return Found(tuple(queues), tuple(exchanges), names.delay_queues)


async def purge(amqp_url: str, found: Found) -> int:
    """Delete the queues, then the exchanges (their bindings go with them). Every possible
    delay queue is deleted too: RabbitMQ answers a delete of a missing queue with delete-ok.
    Returns how many retries were waiting in delay queues."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for queue in found.queues:
            await channel.queue_delete(queue.name)
        retries = 0
        for name in found.delay_queues:
            retries += (await channel.queue_delete(name)).message_count or 0
        for exchange in found.exchanges:
            await channel.exchange_delete(exchange)
    return retries
