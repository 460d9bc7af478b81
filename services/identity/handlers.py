"""Identity commands: each routing key served by one flow function, nothing more."""

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from contracts.hooks import v1 as hooks_v1
from contracts.identity import v1, v2
from contracts.topology import Command
from services.identity.context import Identity
from services.identity.flows import (
    account,
    contacts,
    mfa,
    passwords,
    registration,
    sessions,
    verify_contact,
)
from services.runtime.service import Service

FLOWS: dict[Command, Callable[[Identity, Any], Awaitable[Any]]] = {
    v1.register: registration.register,
    v1.validate_registration: registration.validate_registration,
    v1.login: sessions.login,
    v1.logout: sessions.logout,
    v1.authenticate: sessions.authenticate,
    v1.is_authenticated: sessions.is_authenticated,
    v1.auto_login: sessions.auto_login,
    v1.get_user: sessions.get_user,
    v1.refresh: sessions.refresh,
    v1.jwks: sessions.jwks,
    v1.bind_contact: contacts.bind_contact,
    v1.unbind_contact: contacts.unbind_contact,
    v1.reset_password: passwords.reset_password,
    v1.change_password: passwords.change_password,
    v1.send_password_reset_token: passwords.send_password_reset_token,
    v1.reset_password_with_token: passwords.reset_password_with_token,
    v1.deregister: account.deregister,
    v1.get_properties: account.get_properties,
    v1.save_properties: account.save_properties,
    v1.get_property: account.get_property,
    v1.save_property: account.save_property,
    v1.set_mfa: mfa.set_mfa,
    v1.send_mfa_code: mfa.send_mfa_code,
    v1.verify_mfa: mfa.verify_mfa,
    v1.start_contact_verification: verify_contact.start_contact_verification,
    v1.confirm_contact: verify_contact.confirm_contact,
    v2.reset_password_with_token: passwords.reset_password_with_token_v2,
}


def register(service: Service) -> Identity:
    identity = Identity(service)
    commands = (*v1.COMMANDS, *v2.COMMANDS)
    assert set(FLOWS) == set(commands), "every identity command has exactly one flow"
    for spec in commands:
        service.command(spec, partial(FLOWS[spec], identity))
    # Hooks announce themselves to identity: the registry lives in identity's schema.
    service.command(hooks_v1.register_hook, identity.hooks.register)
    service.on_start(identity.hasher.start)
    service.on_start(identity.hooks.start)
    identity.tokens.wire(service)
    service.on_stop(identity.hooks.stop)
    service.on_stop(identity.hasher.stop)
    return identity
