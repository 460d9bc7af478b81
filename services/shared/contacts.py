"""Email and phone normalisation, so one recipient has one spelling everywhere.

`A@Example.com ` and `a@example.com` must be the same row in every table: codes, users,
purges. Email: email-validator's normalised form with the whole address lower-cased (no
mainstream provider treats local parts case-sensitively, and users do not type them so).
Phone: E.164 via phonenumbers.
"""

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from gatehouse._recipients import ContactKind, kind_of
from gatehouse.errors import InvalidParams


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
