"""The whole system: the three services, imported by name, in the order they start.

Verification first (identity calls it), identity, then the notifier. `gatehouse up`, `gatehouse
migrate`, the namespace footprint and tests build them from here.
"""

from services.identity import app as identity
from services.notifier import app as notifier
from services.runtime.service import Service
from services.runtime.settings import Settings
from services.verification import app as verification

APPS = (verification, identity, notifier)


def build_services(settings: Settings) -> list[Service]:
    """Every service built with `settings`, in start order; nothing connects yet."""
    return [app.build(settings) for app in APPS]
