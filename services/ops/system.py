"""The whole system: the three services, imported by name, in the order they start, and the
settings of all three at once.

Verification first (identity calls it), identity, then the notifier. `gatehouse up`, `gatehouse
migrate`, the namespace footprint and tests build them from here.
"""

from types import ModuleType
from typing import TYPE_CHECKING

from services.identity.settings import IdentitySettings
from services.notifier.settings import NotifierSettings
from services.verification.settings import VerificationSettings

if TYPE_CHECKING:  # the runtime (FastStream) loads with the services, in `apps()`
    from services.runtime.service import Service


def apps() -> tuple[ModuleType, ...]:
    """The three service modules, in start order. Imported on the first call, not with this
    module: every `gatehouse` call reads `SystemSettings`, and most build no service."""
    from services.identity import app as identity
    from services.notifier import app as notifier
    from services.verification import app as verification

    return (verification, identity, notifier)


class SystemSettings(IdentitySettings, VerificationSettings, NotifierSettings):
    """Every service's settings, read at once from one environment: what the CLI gives the
    services it builds together, and each service takes as its own."""


def build_services(settings: SystemSettings) -> "list[Service]":
    """Every service built with `settings`, in start order; nothing connects yet."""
    return [app.build(settings) for app in apps()]
