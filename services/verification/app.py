"""Verification service: `faststream run services.verification.app:app`."""

from datetime import timedelta
from pathlib import Path

from contracts.verification import v1
from services.runtime.routes import serve
from services.runtime.service import Service
from services.runtime.standalone import lazy_app
from services.verification import console, handlers
from services.verification.service import VerificationService
from services.verification.settings import VerificationSettings
from services.verification.store import retention as purges

NAME = "verification"
MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: VerificationSettings) -> Service:
    service = Service(NAME, settings, MIGRATIONS)
    verification = VerificationService(service)
    assert {r.command for r in handlers.COMMANDS} == set(v1.COMMANDS), (
        "every verification command has exactly one flow"
    )
    serve(service, verification, handlers.COMMANDS, handlers.EVENTS)

    @service.on_start
    async def require_key() -> None:
        # Fails start-up in prod mode without GATEHOUSE_CODE_HMAC_KEY, before any code is made.
        _ = settings.code_key

    if settings.is_dev:
        console.register(service)
    retain(service, settings)
    return service


def retain(service: Service, settings: VerificationSettings) -> None:
    """How each expiring verification table is purged (see services.runtime.retention)."""
    service.retain("codes", purges.purge_old, "a day-old code serves neither checks nor limits")
    silent_for = timedelta(seconds=settings.channel_forget_after_s)
    service.retain(
        "channels",
        lambda pool: purges.forget_silent_channels(pool, silent_for),
        "a channel nobody announced for GATEHOUSE_CHANNEL_FORGET_AFTER_S has stopped for good",
    )


# `faststream run services.verification.app:app` builds the app on first access, so that importing
# this module (tests, `gatehouse up`) reads no settings and connects nothing.
__getattr__ = lazy_app(build, VerificationSettings)
