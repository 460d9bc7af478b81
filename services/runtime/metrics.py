"""Prometheus metrics: FastStream's per-message middleware plus Gatehouse's own counters."""

from faststream.rabbit.prometheus import RabbitPrometheusMiddleware
from prometheus_client import REGISTRY, Counter

COMMANDS = Counter(
    "gatehouse_commands_total",
    "Commands answered, by routing key and outcome (`ok` or the error code).",
    ["command", "outcome"],
)


def broker_middleware() -> RabbitPrometheusMiddleware:
    # FastStream shares its collectors per registry, so several brokers in one process
    # (gatehouse up) report into the same series, labelled by queue.
    return RabbitPrometheusMiddleware(registry=REGISTRY, app_name="gatehouse")
