"""Verification service: `faststream run services.verification.app:app`."""

from datetime import timedelta
from pathlib import Path

from services.runtime.service import HOUSEKEEPING_S, Service, lazy_app
from services.runtime.settings import Settings
from services.verification import console, handlers, purge, store

NAME = "verification"
MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: Settings) -> Service:
    service = Service(NAME, settings, MIGRATIONS)
    handlers.register(service)
    purge.register(service)
    if settings.is_dev:
        console.register(service)
    service.every(3600.0, lambda: store.purge_old(service.pool), "purging day-old codes")
    silent_for = timedelta(seconds=settings.channel_forget_after_s)
    service.every(
        HOUSEKEEPING_S,
        lambda: store.forget_silent_channels(service.pool, silent_for),
        "forgetting channels no worker announces any more",
    )
    return service


# `faststream run services.verification.app:app` builds the app on first access, so that importing
# this module (tests, `gatehouse up`) reads no settings and connects nothing.
__getattr__ = lazy_app(build)
