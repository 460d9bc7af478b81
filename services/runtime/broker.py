"""Broker factory and the RabbitMQ objects every service declares the same way."""

import logging

from faststream.rabbit import (
    Channel,
    ExchangeType,
    QueueType,
    RabbitBroker,
    RabbitExchange,
    RabbitMessage,
    RabbitQueue,
)

from contracts.topology import Topology
from services.runtime.logs import silence_transport_debug
from services.runtime.metrics import broker_middleware
from services.runtime.settings import Settings


def make_broker(settings: Settings) -> RabbitBroker:
    """A broker with publisher confirms and quiet per-message logs.

    `on_return_raises` turns a mandatory publish that no queue takes into `DeliveryError`,
    which is how an unbound delivery channel becomes `delivery_unavailable`.

    FastStream logs two INFO lines per message; at a few thousand messages a second that is a
    measurable share of the CPU, so it is opt-in (`GATEHOUSE_LOG_MESSAGES=true`).
    """
    silence_transport_debug()
    return RabbitBroker(
        settings.amqp_url.get_secret_value(),
        apply_types=False,
        logger=logging.getLogger("gatehouse.broker") if settings.log_messages else None,
        graceful_timeout=15.0,
        middlewares=[broker_middleware()] if settings.metrics else [],
        default_channel=Channel(
            publisher_confirms=True, on_return_raises=True, prefetch_count=settings.prefetch
        ),
    )


async def raw_message(message: RabbitMessage) -> RabbitMessage:
    """Decoder that hands subscribers the message itself: we validate bodies ourselves, so
    that a malformed one becomes an `invalid_params` reply instead of a framework error."""
    return message


def topic_exchange(name: str) -> RabbitExchange:
    return RabbitExchange(name, type=ExchangeType.TOPIC, durable=True)


def work_queue(
    topology: Topology, name: str, routing_key: str, *, delivery_limit: int
) -> RabbitQueue:
    """A durable quorum queue; poison messages go to `<name>.dlq` via the dead-letter exchange."""
    return RabbitQueue(
        name,
        durable=True,
        queue_type=QueueType.QUORUM,
        routing_key=routing_key,
        arguments={
            "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": topology.dead_letter,
            "x-dead-letter-routing-key": topology.dead_letter_queue(name),
        },
    )


async def declare_dead_letter(broker: RabbitBroker, topology: Topology, queue: str) -> None:
    """Declare `<queue>.dlq` and bind it so rejected and over-delivered messages are kept."""
    dlx = await broker.declare_exchange(
        RabbitExchange(topology.dead_letter, type=ExchangeType.DIRECT, durable=True)
    )
    name = topology.dead_letter_queue(queue)
    dlq = await broker.declare_queue(
        RabbitQueue(name, durable=True, queue_type=QueueType.QUORUM, routing_key=name)
    )
    await dlq.bind(dlx, routing_key=name)
