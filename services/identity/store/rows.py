"""What every identity store module shares: the user row and its columns, the identifier
filter, and unique-index violations turned into their replies.

Rows become types here, at the store's edge: every store function returns a frozen dataclass
named for what it is (`User`, and the user with what a query joined to it: `SessionUser`,
`RememberedUser`, `ChallengedUser`, `LockedUser`), never an `asyncpg.Record`
(tests/unit/test_layering.py checks that no module above the store names one)."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from contracts.errors import ErrorCode
from services.identity.domain import Identifier, IdentityError, IdKind
from services.runtime.db import Conn

__all__ = [
    "DISABLED",
    "USER",
    "ChallengedUser",
    "Conn",
    "LockedUser",
    "RememberedUser",
    "SessionUser",
    "User",
    "properties_of",
    "typed",
    "unique_violations",
    "user_key",
    "where",
    "where_proven",
]

# Whether the user `u` is disabled now: a disable with an end lapses when it passes.
DISABLED = "(u.disabled_at IS NOT NULL AND (u.disabled_until IS NULL OR u.disabled_until > now()))"

USER = (
    "u.id, u.public_id, u.username, u.email, u.phone, u.email_verified, u.phone_verified,"
    " u.properties::text AS properties, u.created_at, u.updated_at,"
    " u.app_metadata::text AS app_metadata, u.user_metadata::text AS user_metadata,"
    " u.mfa_enabled, EXISTS (SELECT 1 FROM totp_authenticators t"
    " WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL) AS totp,"
    " u.disabled_at, u.disabled_until, u.disabled_reason,"
    f" u.password_reset_required, u.last_login_at, {DISABLED} AS disabled"
)

T = TypeVar("T")


def typed(cls: type[T], record: asyncpg.Record) -> T:
    """`record` as `cls`, a dataclass whose fields are columns the query selected."""
    return cls(**{f.name: record[f.name] for f in fields(cls)})  # type: ignore[arg-type]


@dataclass(frozen=True)
class User:
    """A user as `USER` selects it. `properties` and the metadata are JSON text."""

    id: int
    public_id: str
    username: str | None
    email: str | None
    phone: str | None
    email_verified: bool
    phone_verified: bool
    properties: str
    created_at: datetime
    updated_at: datetime
    app_metadata: str
    user_metadata: str
    mfa_enabled: bool
    totp: bool  # a confirmed authenticator app: a second factor is asked for (gate.py)
    disabled_at: datetime | None
    disabled_until: datetime | None
    disabled_reason: str | None
    password_reset_required: bool
    last_login_at: datetime | None
    disabled: bool  # now: a disable whose `until` has passed is over

    def contact(self, kind: str) -> str | None:
        """The `email` or the `phone`."""
        value: str | None = getattr(self, kind)
        return value

    def verified(self, kind: str) -> bool:
        """Whether the `email` or the `phone` was proved."""
        proved: bool = getattr(self, f"{kind}_verified")
        return proved


@dataclass(frozen=True)
class LockedUser(User):
    """A user under a row lock, with the password hash to check a change against."""

    password_hash: str | None


@dataclass(frozen=True)
class SessionUser(User):
    """The user of a live session, with the session."""

    session_id: str
    factors: list[str]
    proved_at: datetime
    session_expires_at: datetime


@dataclass(frozen=True)
class RememberedUser(User):
    """The user of a remember token, with the token's factors, its chain, and whether it was
    used already (`consumed`) or its chain has ended (`chain_ended`)."""

    factors: list[str]
    chain_id: str
    chain_expires_at: datetime
    proved_at: datetime
    consumed: bool
    chain_ended: bool


@dataclass(frozen=True)
class ChallengedUser(User):
    """The user of a pending two-factor sign-in, with the sign-in held back."""

    method: str
    remember: bool
    client: str  # JSON text
    attempts: int
    contact_kind: str | None  # where the code went (`send_mfa_code`), if anywhere yet
    factors: list[str]


# Index name (see migrations) → the reply a violation of it becomes.
TAKEN = {
    "users_public_id_key": ErrorCode.user_id_taken,
    "users_username_key": ErrorCode.username_taken,
    "users_username_skeleton_key": ErrorCode.username_taken,
    "users_email_key": ErrorCode.email_taken,
    "users_phone_key": ErrorCode.phone_taken,
}


@contextmanager
def unique_violations(*, contact_taken: bool = False) -> Iterator[None]:
    """Turn a unique-index violation into its reply, by class and index name."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        code = TAKEN.get(exc.constraint_name or "")
        if code is None:
            raise
        if contact_taken and code is not ErrorCode.username_taken:
            code = ErrorCode.contact_taken
        field = code.value.removesuffix("_taken")
        raise IdentityError(f"this {field} is already in use", code=code) from None


def user_key(user_id: int) -> str:
    """Throttling key of a known account."""
    return f"user:{user_id}"


def where(ident: Identifier, param: str = "$1") -> str:
    if ident.kind is IdKind.username:
        return f"u.username_key = {param}"  # the canonical key: see services.identity.usernames
    return f"u.{ident.kind.value} = {param}"


def where_proven(ident: Identifier, param: str = "$1") -> str:
    """An email or phone names an account only where it was proved (verified): a contact
    merely claimed leads nowhere (see services/identity/claims.py)."""
    if ident.kind is IdKind.username:
        return where(ident, param)
    return f"{where(ident, param)} AND u.{ident.kind.value}_verified"


def properties_of(user: User) -> dict[str, Any]:
    properties: dict[str, Any] = json.loads(user.properties)
    return properties
