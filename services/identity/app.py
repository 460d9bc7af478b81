"""Identity service: `faststream run services.identity.app:app`."""

from datetime import timedelta
from pathlib import Path

from services.identity import handlers, store
from services.runtime.service import HOUSEKEEPING_S, Service, lazy_app
from services.runtime.settings import Settings

NAME = "identity"
MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: Settings) -> Service:
    service = Service(NAME, settings, MIGRATIONS, uses_rpc=True)
    handlers.register(service)
    service.relay_events()
    silent_for = timedelta(seconds=settings.hook_forget_after_s)
    service.every(
        HOUSEKEEPING_S,
        lambda: store.forget_silent_hooks(service.pool, silent_for),
        "forgetting hooks no worker announces any more",
    )
    return service


# `faststream run services.identity.app:app` builds the app on first access, so that importing
# this module (tests, `gatehouse up`) reads no settings and connects nothing.
__getattr__ = lazy_app(build)
