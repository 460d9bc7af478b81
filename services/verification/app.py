"""Verification service: `faststream run services.verification.app:app`."""

from datetime import timedelta
from pathlib import Path

from services.runtime.service import Service, lazy_app
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
    service.retain("codes", store.purge_old, "a day-old code serves neither checks nor limits")
    silent_for = timedelta(seconds=settings.channel_forget_after_s)
    service.retain(
        "channels",
        lambda pool: store.forget_silent_channels(pool, silent_for),
        "a channel nobody announced for GATEHOUSE_CHANNEL_FORGET_AFTER_S has stopped for good",
    )
    return service


# `faststream run services.verification.app:app` builds the app on first access, so that importing
# this module (tests, `gatehouse up`) reads no settings and connects nothing.
__getattr__ = lazy_app(build)
