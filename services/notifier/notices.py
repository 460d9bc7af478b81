"""Security notices: who is told when an account changes, where, and what the template gets.

Pure rules, from the event alone: the notifier never asks identity anything. A notice goes
only to a verified contact: the owner's email when verified, else the phone by SMS when
verified, else nobody. An unverified contact may be anyone's (a mistyped number, or the
address of a victim an attacker registered with: services/identity/claims.py), and a notice
tells its reader about the account. When a contact is added, the notice goes to another of
the owner's contacts if there is one (an intruder adding their own address must not be the
only one told); when a verified one is removed or replaced, the removed contact itself is
told (a replaced email hears of it at the old address).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from contracts.events import v1 as events
from gatehouse._recipients import Channel
from services.shared.contacts import mask

DEFAULT_LOCALE = "en"

# The kinds of notice, one per lifecycle event the notifier consumes for the account's owner;
# GATEHOUSE_SECURITY_NOTICES chooses which are sent.
SecurityNotice = Literal[
    "password_changed",
    "password_reset",
    "contact_bound",
    "contact_unbound",
    "mfa_changed",
    "factor_added",
    "factor_removed",
    "recovery_code_used",
    "remember_token_reused",
]

# The built-in template of each kind (services/notifier/templates/<locale>/).
TEMPLATES: dict[SecurityNotice, str] = {
    "password_changed": "security_password_changed",
    "password_reset": "security_password_reset",
    "contact_bound": "security_contact_added",
    "contact_unbound": "security_contact_removed",
    "mfa_changed": "security_mfa_changed",
    "factor_added": "security_factor_added",
    "factor_removed": "security_factor_removed",
    "recovery_code_used": "security_recovery_code_used",
    "remember_token_reused": "security_remember_token_reused",
}


@dataclass(frozen=True)
class Recipient:
    channel: Channel
    to: str
    role: str  # `owner`, or `removed` (the contact a change took away); part of the message id


def reach(owner: events.AccountOwner, *, besides: str | None = None) -> Recipient | None:
    """Where the owner is told: the verified email, else the verified phone, none of them
    `besides` (a contact just added); None when no verified contact is left."""
    email = owner.email if owner.email != besides else None
    phone = owner.phone if owner.phone != besides else None
    if email is not None and owner.email_verified:
        return Recipient("email", email, "owner")
    if phone is not None and owner.phone_verified:
        return Recipient("sms", phone, "owner")
    return None


def recipients(kind: SecurityNotice, data: Any) -> list[Recipient]:
    """Who is told about one event's change (`data` is the event's data model)."""
    owner: events.AccountOwner | None = data.owner
    if kind == "contact_unbound":
        removed: events.Contact = data.contact
        if data.verified:
            channel: Channel = "email" if removed.type is events.ContactType.email else "sms"
            return [Recipient(channel, removed.value, "removed")]
    if owner is None:  # published before events carried it: nobody to tell
        return []
    if kind == "contact_bound":
        found = reach(owner, besides=data.contact.value) or reach(owner)
    else:
        found = reach(owner)
    return [found] if found is not None else []


def locale_of(data: Any) -> str:
    owner: events.AccountOwner | None = data.owner
    return owner.locale if owner is not None and owner.locale else DEFAULT_LOCALE


def context(kind: SecurityNotice, data: Any, time: datetime) -> dict[str, Any]:
    """The template variables of a notice: what changed, when, from which client if known.
    Contacts appear masked: the notice may reach someone other than who made the change."""
    client = data.client
    found: dict[str, Any] = {
        "when": f"{time:%Y-%m-%d %H:%M} UTC",
        "client_ip": client.client_ip if client is not None else None,
        "user_agent": client.user_agent if client is not None else None,
    }
    if kind in ("contact_bound", "contact_unbound"):
        found["contact_type"] = data.contact.type.value
        found["contact"] = mask(data.contact.value)
    if kind == "password_reset":
        found["method"] = data.method
    if kind == "mfa_changed":
        found["enabled"] = data.enabled
    if kind == "recovery_code_used":
        found["remaining"] = data.remaining
    return found
