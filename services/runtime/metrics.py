"""Gatehouse's own Prometheus counters (FastStream's per-message middleware: runtime.broker)."""

import functools
from typing import Any

from prometheus_client import Counter, Gauge

COMMANDS = Counter(
    "gatehouse_commands_total",
    "Commands answered, by routing key and outcome (`ok` or the error code).",
    ["command", "outcome"],
)
LISTEN_LOST = Counter(
    "gatehouse_outbox_listen_lost_total",
    "Times a service's outbox relay lost its LISTEN connection: once per outage, however "
    "many reconnects it took. While it is lost, events wait for the relay's poll.",
    ["service"],
)
LISTENING = Gauge(
    "gatehouse_outbox_listening",
    "1 while the service's outbox relay holds its LISTEN connection, 0 while it only polls.",
    ["service"],
)

EVENTS_INVALID = Counter(
    "gatehouse_events_invalid",
    "Events dead-lettered because their body does not parse, by event and consumer.",
    ["event", "consumer"],
)


@functools.cache
def _command_counter(command: str, outcome: str) -> Any:
    return COMMANDS.labels(command, outcome)


def count_command(command: str, outcome: str) -> None:
    # The label lookup takes a lock and builds a key on every call; the children are few.
    _command_counter(command, outcome).inc()


def count_invalid_event(event: str, consumer: str) -> None:
    EVENTS_INVALID.labels(event, consumer).inc()
