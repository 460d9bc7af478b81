"""Email and phone normalisation, so one recipient has one spelling everywhere.

`A@Example.com ` and `a@example.com` must be the same row in every table: codes, users,
purges. Email: email-validator's normalised form with the whole address lower-cased (no
mainstream provider treats local parts case-sensitively, and users do not type them so).
Phone: E.164 via phonenumbers.
"""

from enum import StrEnum
from typing import Literal

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from services.runtime.errors import InvalidParams


class ContactKind(StrEnum):
    email = "email"
    phone = "phone"


# The built-in delivery channels, served by the notifier.
Channel = Literal["email", "sms"]

# The one mapping from a delivery channel's kind to the recipients it reaches. The built-in
# channels `email` and `sms` are named after their kind; a custom channel declares its kind
# (`verification.register_channel.v1`) or none, and is then sent any recipient.
CHANNEL_REACHES: dict[str, ContactKind] = {"email": ContactKind.email, "sms": ContactKind.phone}


def default_channel(kind: str) -> str:
    """The built-in channel a code for a contact of this kind goes through by default."""
    return next(name for name, reaches in CHANNEL_REACHES.items() if reaches == kind)


def kind_of(raw: str) -> ContactKind:
    return ContactKind.email if "@" in raw else ContactKind.phone


def normalize_email(raw: str, field: str = "email") -> str:
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidParams(field, f"not a valid email address ({exc})") from None
    return result.normalized.lower()


def normalize_phone(raw: str, field: str = "phone", region: str | None = None) -> str:
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException:
        raise InvalidParams(
            field, "not a valid phone number (use E.164, e.g. +447911123456)"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidParams(field, "not a valid phone number for its country")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize(raw: str, field: str, region: str | None = None) -> tuple[ContactKind, str]:
    kind = kind_of(raw)
    if kind is ContactKind.email:
        return kind, normalize_email(raw, field)
    return kind, normalize_phone(raw, field, region)


def mask(contact: str) -> str:
    """`a***@example.com`, `+44*******123`: enough for a user to recognise, not to harvest."""
    if "@" in contact:
        local, _, domain = contact.partition("@")
        return f"{local[:1]}***@{domain}"
    return contact[:3] + "*" * max(len(contact) - 6, 0) + contact[-3:]
