"""Running one service on its own: `faststream run services.<name>.app:app`."""

from collections.abc import Callable

from faststream import FastStream

from services.runtime import logs
from services.runtime.health import HealthServer
from services.runtime.service import Service
from services.runtime.settings import ServiceSettings


def app(service: Service) -> FastStream:
    """The FastStream app for running `service` alone, with its health server."""
    settings = service.settings
    logs.configure(settings.log_level, settings.log_json)
    health = HealthServer(settings.http_port, [service.readiness], routes=service.http_routes)
    return FastStream(
        service.broker,
        on_startup=[service.prepare, health.start],
        after_startup=[service.started],
        after_shutdown=[service.close, health.stop],
    )


def lazy_app(
    build: Callable[[ServiceSettings], Service], settings: type[ServiceSettings]
) -> Callable[[str], FastStream]:
    """A module `__getattr__` that builds the service's FastStream app when `app` is read, so
    that importing the module (tests, `gatehouse up`) reads no settings and connects nothing."""

    def module_getattr(name: str) -> FastStream:
        if name == "app":
            return app(build(settings()))
        raise AttributeError(name)

    return module_getattr
