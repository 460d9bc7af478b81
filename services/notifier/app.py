"""Notifier service: `faststream run services.notifier.app:app`.

Which provider sends each channel is settled before anything is built (see providers.py):
in prod mode a channel without its provider stops start-up.
"""

from functools import partial
from pathlib import Path

from contracts.notifier import v1
from contracts.topology import delivery_routing_key
from services.notifier import handlers, policy
from services.notifier.providers import NotifierConfigError, Providers
from services.notifier.service import NAME, NotifierService
from services.notifier.settings import NotifierSettings
from services.notifier.store import retention as purges
from services.notifier.templates import RESET_TOKEN_VARIABLE, Templates
from services.runtime.broker import work_queue
from services.runtime.routes import serve
from services.runtime.service import Service
from services.runtime.standalone import lazy_app

MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: NotifierSettings) -> Service:
    reserved = policy.reserved_among(settings)
    if reserved:
        raise NotifierConfigError(
            "GATEHOUSE_NOTIFY_CALLER_TEMPLATES names templates only Gatehouse may send (they"
            f" carry a code, a reset token or a security notice): {', '.join(reserved)}"
        )
    templates = Templates(
        settings.template_dir,
        must_show=dict.fromkeys(settings.reset_templates, RESET_TOKEN_VARIABLE),
    )
    if missing := templates.missing():
        # Seed 004: the reset mail's body must include %PASSWORD_RESET_TOKEN%. One without it
        # would be sent, token-less, to every user who asks for a reset.
        raise NotifierConfigError(
            "reset mail templates (GATEHOUSE_RESET_TOKEN_TEMPLATE, GATEHOUSE_RESET_MAIL_TEMPLATES)"
            " must show the token, as %PASSWORD_RESET_TOKEN% or {{ password_reset_token }}: "
            + "; ".join(missing)
        )
    providers = Providers(settings)  # raises NotifierConfigError before anything is built
    service = Service(NAME, settings, MIGRATIONS)
    notifier = NotifierService(service, providers, templates)
    for channel in notifier.channels:
        name = notifier.queue(channel)
        service.consumer(
            work_queue(settings, name, delivery_routing_key(channel)),
            service.topology.delivery,
            partial(handlers.DELIVERY, notifier, channel),
        )
        service.extra_queues.extend(notifier.dispatcher.delay_queues(name))
    assert {r.command for r in handlers.COMMANDS} == set(v1.COMMANDS), (
        "every notifier command has exactly one flow"
    )
    serve(service, notifier, handlers.COMMANDS, handlers.EVENTS)
    service.on_start(providers.start)
    service.on_stop(providers.stop)
    service.relay_events()
    service.retain(
        "messages",
        purges.purge_old,
        "a message is kept a week after its last change to recognise a late duplicate",
    )
    service.retain(
        "send_budgets", purges.purge_budgets, "only the current hour's budgets are ever read"
    )
    return service


# `faststream run services.notifier.app:app` builds the app on first access, so that importing
# this module (tests, `gatehouse up`) reads no settings and connects nothing.
__getattr__ = lazy_app(build, NotifierSettings)
