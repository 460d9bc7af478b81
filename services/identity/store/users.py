"""The user row: create, find, lock, change contacts, properties and hook metadata, delete."""

import json
from typing import Any

from contracts.errors import ErrorCode
from services.identity.domain import Identifier, IdKind
from services.identity.standing import Standing
from services.identity.store.rows import (
    DISABLED,
    USER,
    Conn,
    LockedUser,
    User,
    typed,
    user_key,
    where,
    where_proven,
)
from services.identity.store.sessions import revoke_sessions
from services.identity.usernames import Username
from services.runtime.db import Connection, one


async def insert_user(
    con: Connection,
    public_id: str,
    username: Username | None,
    email: str | None,
    phone: str | None,
    email_verified: bool,
    phone_verified: bool,
    properties: dict[str, Any],
) -> User:
    # The username's key and skeleton go in with it: their unique indexes settle a race
    # between two look-alike registrations (see migrations/008_username_keys.py).
    row = await con.fetchrow(
        "INSERT INTO users AS u (public_id, username, username_key, username_skeleton, email,"
        " phone, email_verified, phone_verified, properties)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)"
        f" RETURNING {USER}",
        public_id,
        username.display if username else None,
        username.key if username else None,
        username.skeleton if username else None,
        email,
        phone,
        email_verified,
        phone_verified,
        json.dumps(properties),
    )
    return typed(User, one(row))


async def taken(
    con: Conn,
    username: Username | None,
    email: str | None,
    phone: str | None,
    proven: frozenset[IdKind] = frozenset(),
) -> ErrorCode | None:
    """Which of the identifiers another account holds. A contact in `proven` (a code proves
    it) counts only where it is held verified: a mere claim is taken over."""
    row = await con.fetchrow(
        "SELECT bool_or(username_key = $1 OR username_skeleton = $4) AS username,"
        " bool_or(email = $2 AND (email_verified OR NOT $5)) AS email,"
        " bool_or(phone = $3 AND (phone_verified OR NOT $6)) AS phone FROM users"
        " WHERE username_key = $1 OR username_skeleton = $4 OR email = $2 OR phone = $3",
        username.key if username else None,
        email,
        phone,
        username.skeleton if username else None,
        IdKind.email in proven,
        IdKind.phone in proven,
    )
    for kind, code in (
        ("username", ErrorCode.username_taken),
        ("email", ErrorCode.email_taken),
        ("phone", ErrorCode.phone_taken),
    ):
        if one(row)[kind]:
            return code
    return None


async def find_user(con: Conn, ident: Identifier) -> User | None:
    row = await con.fetchrow(f"SELECT {USER} FROM users u WHERE {where(ident)}", ident.value)
    return None if row is None else typed(User, row)


async def find_proven(con: Conn, ident: Identifier) -> User | None:
    """The account an identifier names for a code sign-in or a reset: a username, or an
    email or phone that account proved. An unverified contact names no account here."""
    row = await con.fetchrow(f"SELECT {USER} FROM users u WHERE {where_proven(ident)}", ident.value)
    return None if row is None else typed(User, row)


async def lock_user(con: Connection, user_id: int) -> LockedUser | None:
    """The user row with its password hash, locked until the end of the transaction `con` is
    in: only meaningful inside one."""
    assert con.is_in_transaction(), "a row lock outside a transaction is released at once"
    row = await con.fetchrow(
        f"SELECT {USER}, c.password_hash FROM users u"
        " LEFT JOIN credentials c ON c.user_id = u.id WHERE u.id = $1 FOR UPDATE OF u",
        user_id,
    )
    return None if row is None else typed(LockedUser, row)


async def lock_standing(con: Connection, user_id: int) -> Standing | None:
    """The user's standing, read under a lock that a disable (`FOR UPDATE`, see
    `store.admin`) waits for and that waits for a disable: a session opened in the same
    transaction is either refused here or there for the disable to revoke. `FOR KEY SHARE`,
    as the session's own foreign key takes, so sign-ins do not wait for each other."""
    assert con.is_in_transaction(), "a row lock outside a transaction is released at once"
    row = await con.fetchrow(
        f"SELECT {DISABLED} AS disabled, u.disabled_until, u.password_reset_required"
        " FROM users u WHERE u.id = $1 FOR KEY SHARE",
        user_id,
    )
    return None if row is None else typed(Standing, row)


async def set_contact(con: Connection, user_id: int, kind: IdKind, value: str | None) -> User:
    """Bind (verified: a code proved it) or, with None, unbind the user's email or phone. An
    account released by a takeover is named again once it binds one."""
    column = kind.value  # `email` or `phone`: never caller text
    row = await con.fetchrow(
        f"UPDATE users u SET {column} = $2::text, {column}_verified = $2::text IS NOT NULL,"
        " released_at = CASE WHEN $2::text IS NULL THEN u.released_at END,"
        f" updated_at = now() WHERE u.id = $1 RETURNING {USER}",
        user_id,
        value,
    )
    return typed(User, one(row))


async def save_properties(con: Connection, user_id: int, properties: dict[str, Any]) -> User:
    row = await con.fetchrow(
        "UPDATE users u SET properties = $2::jsonb, updated_at = now()"
        f" WHERE u.id = $1 RETURNING {USER}",
        user_id,
        json.dumps(properties),
    )
    return typed(User, one(row))


async def apply_metadata(
    con: Connection,
    user_id: int,
    app_set: dict[str, Any],
    app_deleted: list[str],
    user_set: dict[str, Any],
    user_deleted: list[str],
) -> User:
    """Merge in one statement: a concurrent flow's other keys survive."""
    row = await con.fetchrow(
        "UPDATE users u SET app_metadata = (u.app_metadata - $3::text[]) || $2::jsonb,"
        " user_metadata = (u.user_metadata - $5::text[]) || $4::jsonb, updated_at = now()"
        f" WHERE u.id = $1 RETURNING {USER}",
        user_id,
        json.dumps(app_set),
        app_deleted,
        json.dumps(user_set),
        user_deleted,
    )
    return typed(User, one(row))


async def delete_user(con: Connection, user_id: int) -> tuple[User | None, list[str]]:
    """Everything of the user goes: credentials, sessions and tokens by cascade. Returns the
    user and the public ids of the sessions that went with it (for `user.deregistered`)."""
    # Locked first: a sign-in racing this cannot add a session that the cascade would remove
    # without it being listed.
    await con.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user_id)
    sessions = await revoke_sessions(con, user_id)
    await con.execute("DELETE FROM login_failures WHERE account_key = $1", user_key(user_id))
    row = await con.fetchrow(f"DELETE FROM users u WHERE u.id = $1 RETURNING {USER}", user_id)
    return None if row is None else typed(User, row), sessions


async def user_data_counts(con: Conn, public_id: str) -> dict[str, int]:
    """How many rows of each table belong to the user (tests and audits)."""
    row = await con.fetchrow(
        "WITH u AS (SELECT id FROM users WHERE public_id = $1) SELECT"
        " (SELECT count(*) FROM u) AS users,"
        " (SELECT count(*) FROM credentials WHERE user_id IN (SELECT id FROM u)) AS credentials,"
        " (SELECT count(*) FROM sessions WHERE user_id IN (SELECT id FROM u)) AS sessions,"
        " (SELECT count(*) FROM remember_tokens WHERE user_id IN (SELECT id FROM u))"
        " AS remember_tokens,"
        " (SELECT count(*) FROM reset_tokens WHERE user_id IN (SELECT id FROM u))"
        " AS reset_tokens",
        public_id,
    )
    return dict(one(row))
