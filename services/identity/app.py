"""Identity service: `faststream run services.identity.app:app`."""

from pathlib import Path

from faststream import FastStream

from services.identity import handlers
from services.runtime.service import Service
from services.runtime.settings import Settings

NAME = "identity"
MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: Settings) -> Service:
    service = Service(NAME, settings, MIGRATIONS, uses_rpc=True)
    handlers.register(service)
    service.relay_events()
    return service


def create_app(settings: Settings | None = None) -> FastStream:
    return build(settings or Settings()).app()


def __getattr__(name: str) -> FastStream:
    # Built on first access, so importing this module reads no settings and connects nothing.
    if name == "app":
        return create_app()
    raise AttributeError(name)
