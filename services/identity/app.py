"""Identity service: `faststream run services.identity.app:app`."""

from datetime import timedelta
from pathlib import Path

from contracts.admin import v1 as admin_v1
from contracts.hooks import v1 as hooks_v1
from contracts.identity import v1, v2
from services.identity import handlers, reset_mail
from services.identity.service import IdentityService
from services.identity.settings import IdentitySettings
from services.identity.store import retention as purges
from services.identity.throttling import RESET_REQUEST_WINDOW
from services.runtime.routes import serve
from services.runtime.service import Service
from services.runtime.standalone import lazy_app

NAME = "identity"
MIGRATIONS = Path(__file__).parent / "migrations"


def build(settings: IdentitySettings) -> Service:
    service = Service(NAME, settings, MIGRATIONS, uses_rpc=True)
    identity = IdentityService(service)
    served = {r.command for r in handlers.COMMANDS}
    assert served == {*v1.COMMANDS, *v2.COMMANDS, *hooks_v1.COMMANDS, *admin_v1.COMMANDS}, (
        "every identity command has exactly one flow"
    )
    serve(service, identity, handlers.COMMANDS, handlers.EVENTS)
    service.on_start(identity.hasher.start)
    service.on_start(identity.hooks.start)
    identity.tokens.wire(service)
    service.on_stop(identity.hooks.stop)
    service.on_stop(identity.hasher.stop)
    service.relay_events()
    service.background(lambda: reset_mail.run(identity))
    retain(service, settings)
    return service


def retain(service: Service, settings: IdentitySettings) -> None:
    """How each expiring identity table is purged (see services.runtime.retention)."""
    silent_for = timedelta(seconds=settings.hook_forget_after_s)
    # The code that confirms a pending contact lives code_ttl_s; a day covers any sane TTL.
    pending_for = max(timedelta(seconds=settings.code_ttl_s), timedelta(days=1))
    window = timedelta(seconds=max(settings.login_failure_window_s, settings.login_spray_window_s))
    service.retain("sessions", purges.purge_sessions, "a session past either expiry is dead")
    service.retain("remember_tokens", purges.purge_remember_tokens, "expired remember tokens")
    service.retain("reset_tokens", purges.purge_reset_tokens, "expired password reset tokens")
    service.retain(
        "reset_queue",
        purges.purge_reset_queue,
        "a request the worker never took (it takes them within a second) after a day",
    )
    service.retain("mfa_challenges", purges.purge_mfa_challenges, "expired mfa tokens")
    service.retain(
        "contact_verifications",
        lambda pool: purges.purge_contact_verifications(pool, pending_for),
        "a pending contact whose code can no longer be alive",
    )
    service.retain(
        "totp_authenticators",
        lambda pool: purges.purge_pending_totp(pool, timedelta(days=1)),
        "an authenticator app left unconfirmed for a day (a confirmed one lives with its user)",
    )
    service.retain(
        "login_failures",
        lambda pool: purges.purge_login_failures(pool, window),
        "failures of a window (GATEHOUSE_LOGIN_FAILURE_WINDOW_S, _SPRAY_WINDOW_S) that has passed",
    )
    service.retain(
        "login_clients",
        purges.purge_login_clients,
        "a client not signed in from for GATEHOUSE_LOGIN_KNOWN_CLIENT_TTL_S",
    )
    service.retain(
        "reset_requests",
        lambda pool: purges.purge_reset_requests(pool, RESET_REQUEST_WINDOW),
        "reset requests of an hourly window that has passed",
    )
    service.retain("hook_cache", purges.purge_hook_cache, "expired hook cache entries")
    service.retain(
        "signing_keys",
        purges.purge_signing_keys,
        "a retired signing key verifies nothing: every token it signed has expired",
    )
    service.retain(
        "hooks",
        lambda pool: purges.forget_silent_hooks(pool, silent_for),
        "a hook nobody announced for GATEHOUSE_HOOK_FORGET_AFTER_S has stopped for good",
    )


# `faststream run services.identity.app:app` builds the app on first access, so that importing
# this module (tests, `gatehouse up`) reads no settings and connects nothing.
__getattr__ = lazy_app(build, IdentitySettings)
