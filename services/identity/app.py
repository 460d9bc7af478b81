"""Identity service: `faststream run services.identity.app:app`."""

from pathlib import Path

from services.identity import handlers
from services.runtime.service import Service, lazy_app
from services.runtime.settings import Settings

NAME = "identity"
MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: Settings) -> Service:
    service = Service(NAME, settings, MIGRATIONS, uses_rpc=True)
    handlers.register(service)
    service.relay_events()
    return service


# `faststream run services.identity.app:app` builds the app on first access, so that importing
# this module (tests, `gatehouse up`) reads no settings and connects nothing.
__getattr__ = lazy_app(build)
