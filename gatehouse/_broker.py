"""The FastStream broker every Gatehouse process makes the same way: the services and the
hook and channel workers another service runs with the client."""

import logging
from typing import Any

from faststream.rabbit import Channel, ExchangeType, RabbitBroker, RabbitExchange, RabbitMessage

from gatehouse._transport_logs import silence_transport_debug
from gatehouse.settings import BrokerSettings


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


def existing_exchange(name: str) -> RabbitExchange:
    """A topic exchange Gatehouse's services declared, declared passively (it must exist):
    a hook or channel worker may not configure Gatehouse's exchanges."""
    return RabbitExchange(name, type=ExchangeType.TOPIC, durable=True, declare=False)
