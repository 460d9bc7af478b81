"""Identity commands: each routing key served by one flow function, nothing more."""

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from contracts.identity import v1
from contracts.topology import Command
from services.identity.context import Identity
from services.identity.flows import account, contacts, passwords, registration, sessions
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
    v1.bind_contact: contacts.bind_contact,
    v1.unbind_contact: contacts.unbind_contact,
    v1.reset_password: passwords.reset_password,
    v1.change_password: passwords.change_password,
    v1.send_password_reset_token: passwords.send_password_reset_token,
    v1.reset_password_with_token: passwords.reset_password_with_token,
    v1.deregister: account.deregister,
    v1.get_properties: account.get_properties,
    v1.save_properties: account.save_properties,
}


def register(service: Service) -> Identity:
    identity = Identity(service)
    assert set(FLOWS) == set(v1.COMMANDS), "every identity command has exactly one flow"
    for spec in v1.COMMANDS:
        service.command(spec, partial(FLOWS[spec], identity))
    service.on_start(identity.hasher.start)
    service.on_stop(identity.hasher.stop)
    return identity
