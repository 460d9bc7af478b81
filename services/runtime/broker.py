"""The RabbitMQ objects every service declares the same way: exchanges, work queues and their
dead-letter queues. The broker itself comes from `gatehouse._broker`."""

from aio_pika.abc import AbstractChannel
from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.schemas.queue import ClassicQueueArgs, QuorumQueueArgs

from gatehouse.settings import BrokerSettings


def topic_exchange(name: str) -> RabbitExchange:
    return RabbitExchange(name, type=ExchangeType.TOPIC, durable=True)


def work_queue(settings: BrokerSettings, name: str, routing_key: str) -> RabbitQueue:
    """A durable queue whose poison messages go to `<name>.dlq` via the dead-letter exchange.

    Quorum queues (the default) are replicated and count deliveries, so a message that keeps
    crashing its consumer is dead-lettered after `GATEHOUSE_DELIVERY_LIMIT` attempts.
    """
    topology = settings.topology
    dead_letter = topology.dead_letter
    dead_letter_queue = topology.dead_letter_queue(name)
    if settings.queue_type == "quorum":
        quorum: QuorumQueueArgs = {
            "x-dead-letter-exchange": dead_letter,
            "x-dead-letter-routing-key": dead_letter_queue,
            "x-delivery-limit": settings.delivery_limit,
        }
        return RabbitQueue(
            name,
            durable=True,
            queue_type=QueueType.QUORUM,
            routing_key=routing_key,
            arguments=quorum,
        )
    classic: ClassicQueueArgs = {
        "x-dead-letter-exchange": dead_letter,
        "x-dead-letter-routing-key": dead_letter_queue,
    }
    return RabbitQueue(
        name, durable=True, queue_type=QueueType.CLASSIC, routing_key=routing_key, arguments=classic
    )


async def declare_dead_letter(broker: RabbitBroker, settings: BrokerSettings, queue: str) -> None:
    """Declare `<queue>.dlq` and bind it so rejected and over-delivered messages are kept."""
    topology = settings.topology
    dlx = await broker.declare_exchange(
        RabbitExchange(topology.dead_letter, type=ExchangeType.DIRECT, durable=True)
    )
    name = topology.dead_letter_queue(queue)
    if settings.queue_type == "quorum":
        dead = RabbitQueue(name, durable=True, queue_type=QueueType.QUORUM, routing_key=name)
    else:
        dead = RabbitQueue(name, durable=True, queue_type=QueueType.CLASSIC, routing_key=name)
    dlq = await broker.declare_queue(dead)
    await dlq.bind(dlx, routing_key=name)


async def declare_bound_work_queue(
    channel: AbstractChannel, settings: BrokerSettings, name: str, exchange: str, routing_key: str
) -> None:
    """`work_queue(name)` and its `.dlq`, declared and bound on a raw aio-pika channel, every
    time (FastStream's declarer would remember a queue and never declare it again, so one an
    operator deleted would stay gone). How verification makes a custom channel's queue for
    the worker that announced it: workers may consume it, not declare or bind it."""
    topology = settings.topology
    dead = topology.dead_letter_queue(name)
    dlq = await channel.declare_queue(
        dead, durable=True, arguments={"x-queue-type": settings.queue_type}
    )
    await dlq.bind(topology.dead_letter, routing_key=dead)
    queue = await channel.declare_queue(
        name, durable=True, arguments=dict(work_queue(settings, name, routing_key).arguments or {})
    )
    await queue.bind(exchange, routing_key=routing_key)
