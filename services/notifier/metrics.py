"""Prometheus counters of the notifier.

Module level on purpose: prometheus_client refuses a second registration of one name, and
several notifier instances (tests, `gatehouse up`) may be built in one process.
"""

from prometheus_client import Counter

NOTIFICATIONS = Counter(
    "gatehouse_notifications",
    "Notifier messages by channel and outcome (sent, retried, failed, duplicate, invalid).",
    ["channel", "outcome"],
)


def count(channel: str, outcome: str) -> None:
    NOTIFICATIONS.labels(channel=channel, outcome=outcome).inc()
