"""Identity rules: input validation (seed 004), login methods, throttling, tokens. No I/O."""

import dataclasses
import hashlib
import json
import re
import secrets
from collections.abc import Container
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from contracts.errors import ErrorCode
from contracts.identity.v1 import (
    PASSWORD_MAX,
    PROPERTIES_MAX_BYTES,
    PROPERTY_NAME_MAX,
    USERNAME_MAX,
)
from gatehouse.errors import GatehouseError, InvalidParams
from services.identity import usernames
from services.identity.usernames import Username
from services.shared.contacts import normalize_email, normalize_phone

PROPERTY_KEY = re.compile(r"[a-zA-Z][a-zA-Z0-9]*")
TOKEN_BYTES = 32  # 256 bits


class IdentityError(GatehouseError):
    code = ErrorCode.invalid_operation


def invalid_credentials() -> IdentityError:
    # One message for unknown user and wrong password alike.
    return IdentityError("the credentials do not match", code=ErrorCode.invalid_credentials)


def login_required() -> IdentityError:
    return IdentityError(
        "the session is missing, expired or revoked; sign in again",
        code=ErrorCode.login_required,
    )


@dataclass(frozen=True)
class Policy:
    username_min: int
    password_min: int
    session_ttl: timedelta
    session_absolute_ttl: timedelta
    remember_ttl: timedelta
    auto_login: bool
    max_failures: int
    failure_window: timedelta
    reset_token_ttl: timedelta
    # Case-folded; empty when GATEHOUSE_PASSWORD_COMMON_CHECK is off.
    common_passwords: Container[str] = dataclasses.field(
        default=frozenset(), repr=False, compare=False
    )


# --- input rules ---------------------------------------------------------------------------


def _spaceless(value: str, field: str, shortest: int, longest: int) -> str:
    """Seed 004's rule for usernames and passwords: no spaces, length within bounds."""
    if any(ch.isspace() for ch in value):
        raise InvalidParams(field, f"{field} must not contain spaces")
    if len(value) < shortest:
        raise InvalidParams(field, f"{field} must be at least {shortest} characters")
    if len(value) > longest:
        raise InvalidParams(field, f"{field} must be at most {longest} characters")
    return value


def check_username(value: str, policy: Policy, field: str = "username") -> Username:
    """A new username (register): see `services.identity.usernames`."""
    return usernames.parse(value, policy.username_min, USERNAME_MAX, field)


def check_password(value: str, policy: Policy, field: str = "password") -> str:
    """Every path that sets a password calls this: register (and validate_registration),
    change, reset by code, reset by token."""
    _spaceless(value, field, policy.password_min, PASSWORD_MAX)
    check_not_common(value, policy, field)
    return value


def check_not_common(value: str, policy: Policy, field: str = "password") -> None:
    # Case-insensitive: `Password1` is the first thing a guesser tries after `password1`.
    if value.casefold() in policy.common_passwords:
        message = "this password is one of the most common ones; choose another"
        raise IdentityError(
            f"{field}: {message}",
            code=ErrorCode.password_too_common,
            fields=[{"field": field, "message": message}],
        )


def properties_size(properties: dict[str, Any]) -> int:
    return len(json.dumps(properties, separators=(",", ":"), ensure_ascii=False).encode())


def check_property_name(key: str, field: str) -> None:
    if key.startswith("_"):
        raise InvalidParams(field, "property names must not start with '_'")
    if len(key) > PROPERTY_NAME_MAX or not PROPERTY_KEY.fullmatch(key):
        raise InvalidParams(
            field,
            "property names must match [a-zA-Z][a-zA-Z0-9]*"
            f" (at most {PROPERTY_NAME_MAX} characters)",
        )


def check_property_keys(properties: dict[str, Any], field: str = "properties") -> None:
    for key in properties:
        check_property_name(key, f"{field}.{key[:64]}")


def check_properties_size(properties: dict[str, Any], field: str = "properties") -> None:
    if properties_size(properties) > PROPERTIES_MAX_BYTES:
        raise InvalidParams(
            field, f"properties must not exceed {PROPERTIES_MAX_BYTES // 1024} KB as JSON"
        )


def check_properties(properties: dict[str, Any], field: str = "properties") -> dict[str, Any]:
    check_property_keys(properties, field)
    check_properties_size(properties, field)
    return properties


def merge_properties(
    current: dict[str, Any], patch: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Partial update: set the given keys, drop those given as null. Returns (merged, changed)."""
    check_property_keys(patch)
    merged = dict(current)
    changed: list[str] = []
    for key, value in patch.items():
        if value is None:
            if key in merged:
                del merged[key]
                changed.append(key)
        elif merged.get(key, ...) != value:
            merged[key] = value
            changed.append(key)
    check_properties_size(merged)
    return merged, changed


# --- identifiers ---------------------------------------------------------------------------


class IdKind(StrEnum):
    username = "username"
    email = "email"
    phone = "phone"


@dataclass(frozen=True)
class Identifier:
    kind: IdKind
    # Normalised: a username's canonical key (`usernames.canonical`), a lower-cased email
    # address, an E.164 number. Lookups and throttling use it as it is.
    value: str

    @property
    def throttle_key(self) -> str:
        return f"{self.kind.value}:{self.value}"


def contact(kind: IdKind, raw: str, region: str | None) -> str:
    if kind is IdKind.email:
        return normalize_email(raw, "email")
    return normalize_phone(raw, "phone", region)


def one_identifier(
    username: str | None,
    email: str | None,
    phone: str | None,
    region: str | None,
    *,
    allowed: tuple[IdKind, ...] = (IdKind.username, IdKind.email, IdKind.phone),
) -> Identifier:
    """Exactly one of the given identifier fields, normalised."""
    given = {
        kind: value
        for kind, value in (
            (IdKind.username, username),
            (IdKind.email, email),
            (IdKind.phone, phone),
        )
        if value is not None
    }
    names = " or ".join(kind.value for kind in allowed)
    for kind in given:
        if kind not in allowed:
            raise InvalidParams(kind.value, f"not accepted here; give {names}")
    if len(given) != 1:
        field = next(iter(given)) if given else allowed[0]
        raise InvalidParams(str(field), f"give exactly one of {names}")
    kind, raw = next(iter(given.items()))
    if kind is IdKind.username:
        return Identifier(kind, usernames.canonical(raw))
    return Identifier(kind, contact(kind, raw, region))


@dataclass(frozen=True)
class Registration:
    username: Username | None
    email: str | None
    phone: str | None
    password: str | None
    code_for: Identifier | None  # the contact the code proves
    properties: dict[str, Any]


def plan_registration(
    policy: Policy,
    region: str | None,
    *,
    username: str | None,
    email: str | None,
    phone: str | None,
    password: str | None,
    code: str | None,
    properties: dict[str, Any] | None,
    require_credential: bool = True,
) -> Registration:
    if username is None and email is None and phone is None:
        raise InvalidParams("username", "give a username, an email or a phone")
    new_username = check_username(username, policy) if username is not None else None
    norm_email = contact(IdKind.email, email, region) if email is not None else None
    norm_phone = contact(IdKind.phone, phone, region) if phone is not None else None
    if password is not None:
        check_password(password, policy)
    code_for: Identifier | None = None
    if code is not None:
        if norm_email is not None:
            code_for = Identifier(IdKind.email, norm_email)
        elif norm_phone is not None:
            code_for = Identifier(IdKind.phone, norm_phone)
        else:
            raise InvalidParams("code", "a code proves an email or a phone: give one")
    if require_credential and password is None and code is None:
        raise InvalidParams("password", "give a password or a code")
    return Registration(
        new_username, norm_email, norm_phone, password, code_for, check_properties(properties or {})
    )


@dataclass(frozen=True)
class AccountShape:
    """Which ways in a user has: what unbinding must leave at least one of."""

    username: bool
    email: bool
    phone: bool
    password: bool


def check_unbind(shape: AccountShape, kind: IdKind) -> None:
    if (kind is IdKind.email and not shape.email) or (kind is IdKind.phone and not shape.phone):
        raise IdentityError(f"no {kind.value} is bound", code=ErrorCode.not_found)
    left = AccountShape(
        shape.username,
        shape.email and kind is not IdKind.email,
        shape.phone and kind is not IdKind.phone,
        shape.password,
    )
    # A contact alone signs in with a code; any identifier with the password does too.
    if not (left.email or left.phone or (left.username and left.password)):
        raise IdentityError(
            f"the {kind.value} is the last way to sign in", code=ErrorCode.last_login_method
        )


# --- tokens and sessions -------------------------------------------------------------------


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> bytes:
    """SHA-256 suffices: the token has 256 bits of entropy, there is nothing to brute-force."""
    return hashlib.sha256(token.encode()).digest()


def new_public_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(12)}"
