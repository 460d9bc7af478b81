"""What every identity store module shares: the user columns, the identifier filter, and
unique-index violations turned into their replies."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg

from contracts.errors import ErrorCode
from services.identity.domain import Identifier, IdentityError, IdKind
from services.runtime.db import Conn

__all__ = [
    "DISABLED",
    "USER",
    "Conn",
    "properties_of",
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
    " u.mfa_enabled, u.disabled_at, u.disabled_until, u.disabled_reason,"
    f" u.password_reset_required, u.last_login_at, {DISABLED} AS disabled"
)

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


def properties_of(row: asyncpg.Record) -> dict[str, Any]:
    return json.loads(row["properties"])
