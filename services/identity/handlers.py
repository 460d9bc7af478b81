"""What identity serves: each command with the one flow that answers it. `with_view`: the
commands that return a user add seed 004's shape of it when asked (`view: "monaca"`)."""

from contracts.admin import v1 as admin_v1
from contracts.hooks import v1 as hooks_v1
from contracts.identity import v1, v2
from services.identity.flows import (
    account,
    admin,
    contacts,
    factors,
    hooks,
    mfa,
    passwords,
    registration,
    sessions,
    verify_contact,
)
from services.identity.service import IdentityService
from services.identity.views import with_view
from services.runtime.routes import Route, Subscription, route

COMMANDS: tuple[Route[IdentityService], ...] = (
    route(v1.register, with_view(registration.register)),
    route(v1.validate_registration, registration.validate_registration),
    route(v1.login, with_view(sessions.login)),
    route(v1.logout, sessions.logout),
    route(v1.authenticate, with_view(sessions.authenticate)),
    route(v1.is_authenticated, sessions.is_authenticated),
    route(v1.auto_login, with_view(sessions.auto_login)),
    route(v1.get_user, with_view(sessions.get_user)),
    route(v1.refresh, sessions.refresh),
    route(v1.jwks, sessions.jwks),
    route(v1.bind_contact, with_view(contacts.bind_contact)),
    route(v1.unbind_contact, with_view(contacts.unbind_contact)),
    route(v1.reset_password, passwords.reset_password),
    route(v1.change_password, passwords.change_password),
    route(v1.send_password_reset_token, passwords.send_password_reset_token),
    route(v1.reset_password_with_token, with_view(passwords.reset_password_with_token)),
    route(v1.deregister, account.deregister),
    route(v1.get_properties, account.get_properties),
    route(v1.save_properties, account.save_properties),
    route(v1.get_property, account.get_property),
    route(v1.save_property, account.save_property),
    route(v1.set_mfa, with_view(mfa.set_mfa)),
    route(v1.send_mfa_code, mfa.send_mfa_code),
    route(v1.verify_mfa, with_view(mfa.verify_mfa)),
    route(v1.enroll_totp, factors.enroll_totp),
    route(v1.confirm_totp, factors.confirm_totp),
    route(v1.remove_totp, factors.remove_totp),
    route(v1.regenerate_recovery_codes, factors.regenerate_recovery_codes),
    route(v1.list_factors, factors.list_factors),
    route(v1.start_contact_verification, verify_contact.start_contact_verification),
    route(v1.confirm_contact, with_view(verify_contact.confirm_contact)),
    route(v2.reset_password_with_token, with_view(passwords.reset_password_with_token_v2)),
    # Hooks announce themselves to identity: the registry lives in identity's schema.
    route(hooks_v1.register_hook, hooks.register_hook_retired),
    route(hooks_v1.register_hook_v2, hooks.register_hook),
    # Operators, on the admin exchange: identity owns the users they act on.
    route(admin_v1.find_user, admin.find_user),
    route(admin_v1.list_users, admin.list_users),
    route(admin_v1.disable_user, admin.disable_user),
    route(admin_v1.enable_user, admin.enable_user),
    route(admin_v1.revoke_sessions, admin.revoke_sessions),
    route(admin_v1.delete_user, admin.delete_user),
    route(admin_v1.set_password_required, admin.set_password_required),
)
EVENTS: tuple[Subscription[IdentityService], ...] = ()
