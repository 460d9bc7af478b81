"""Throwaway RabbitMQ users with the four roles Gatehouse defines, made the way
`gatehouse broker-users apply` makes them (services.ops.broker_users through rabbitmqctl, which
must run next to the broker) and always deleted afterwards. Only these users are touched:
never guest, never another user's permissions."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from services.ops import broker_users
from services.runtime.settings import Settings


@contextmanager
def throwaway_users(
    settings: Settings,
    vhost: str = "/",
    roles: tuple[str, ...] = ("services", "workers", "callers", "admins"),
) -> Iterator[dict[str, str]]:
    """One user per role of `services.ops.broker_roles` (or of `roles`: one rabbitmqctl run
    makes them all, one per user deletes it, about half a second a run),
    `gatehouse-test-<run>-<role>`; role → AMQP URL. Deleted on the way out, whatever happened."""
    prefix = f"gatehouse-test-{uuid.uuid4().hex[:8]}"
    backend = broker_users.Rabbitmqctl()
    topology = settings.topology
    only = frozenset(roles)
    try:
        accounts = broker_users.apply(
            backend,
            topology,
            broker_users.generate_passwords(roles),
            prefix=prefix,
            vhost=vhost,
            only=only,
        )
        broker = settings.amqp_url.get_secret_value()
        yield {account.role: account.amqp_url(broker) for account in accounts}
    finally:
        broker_users.remove(backend, topology, prefix=prefix, only=only)
