"""Verification service: `faststream run services.verification.app:app`."""

from pathlib import Path

from faststream import FastStream

from services.runtime.service import Service
from services.runtime.settings import Settings
from services.verification import console, handlers, purge

NAME = "verification"
MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: Settings) -> Service:
    service = Service(NAME, settings, MIGRATIONS)
    handlers.register(service)
    purge.register(service)
    if settings.is_dev:
        console.register(service)
    return service


def create_app(settings: Settings | None = None) -> FastStream:
    return build(settings or Settings()).app()


def __getattr__(name: str) -> FastStream:
    # `faststream run services.verification.app:app` builds the app on first access, so that
    # importing this module (tests, `gatehouse up`) reads no settings and connects nothing.
    if name == "app":
        return create_app()
    raise AttributeError(name)
