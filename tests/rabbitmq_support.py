"""Throwaway RabbitMQ users with the permissions Gatehouse documents, made with rabbitmqctl
(which must run next to the broker) and always deleted afterwards. Only these users are
touched: never guest, never another user's permissions."""

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, urlsplit

from services import namespace
from services.runtime.settings import Settings


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


@contextmanager
def throwaway_users(settings: Settings, vhost: str = "/") -> Iterator[dict[str, str]]:
    """One user per role of `namespace.permissions`, each with those permissions; role →
    AMQP URL. Deleted on the way out, whatever happened."""
    run = uuid.uuid4().hex[:8]
    urls: dict[str, str] = {}
    base = urlsplit(settings.amqp_url.get_secret_value())
    try:
        for role, granted in namespace.permissions(settings.topology).items():
            user, password = f"gatehouse-test-{role}-{run}", uuid.uuid4().hex
            rabbitmqctl("add_user", user, password)
            urls[role] = base._replace(
                netloc=f"{quote(user)}:{password}@{base.hostname}:{base.port or 5672}"
            ).geturl()
            rabbitmqctl(
                "set_permissions", "-p", vhost, user, granted.configure, granted.write, granted.read
            )
        yield urls
    finally:
        for role in namespace.permissions(settings.topology):
            subprocess.run(
                ["rabbitmqctl", "delete_user", f"gatehouse-test-{role}-{run}"],
                capture_output=True,
                timeout=60,
            )
