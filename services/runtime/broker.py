"""Broker factory and the RabbitMQ objects every service declares the same way."""

import logging
from typing import Any

from aio_pika.abc import AbstractChannel
from faststream.rabbit import (
    Channel,
    ExchangeType,
    QueueType,
    RabbitBroker,
    RabbitExchange,
    RabbitMessage,
    RabbitQueue,
)
from faststream.rabbit.schemas.queue import ClassicQueueArgs, QuorumQueueArgs

from services.runtime.broker_settings import BrokerSettings
from services.runtime.logs import silence_transport_debug


def make_broker(settings: BrokerSettings) -> RabbitBroker:
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
        middlewares=middlewares(settings),
        default_channel=Channel(
            publisher_confirms=True, on_return_raises=True, prefetch_count=settings.prefetch
        ),
    )


async def raw_message(message: RabbitMessage) -> RabbitMessage:
    """Decoder that hands subscribers the message itself: we validate bodies ourselves, so
    that a malformed one becomes an `invalid_params` reply instead of a framework error."""
    return message


def middlewares(settings: BrokerSettings) -> list[Any]:
    chosen: list[Any] = []
    if settings.otel_enabled:
        # Spans go to the global tracer provider: configure it the usual way, e.g. run the
        # service under `opentelemetry-instrument` with OTEL_* variables.
        from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware

        chosen.append(RabbitTelemetryMiddleware())
    if settings.message_metrics:
        # Imported here, as telemetry is: a hook or channel worker in another service needs
        # prometheus-client only when it asks for these metrics. FastStream shares its
        # collectors per registry, so several brokers in one process (gatehouse up) report
        # into the same series, labelled by queue.
        from faststream.rabbit.prometheus import RabbitPrometheusMiddleware
        from prometheus_client import REGISTRY

        chosen.append(RabbitPrometheusMiddleware(registry=REGISTRY, app_name="gatehouse"))
    return chosen


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


def existing_exchange(name: str) -> RabbitExchange:
    """A topic exchange Gatehouse's services declared, declared passively (it must exist):
    a hook or channel worker may not configure Gatehouse's exchanges."""
    return RabbitExchange(name, type=ExchangeType.TOPIC, durable=True, declare=False)
