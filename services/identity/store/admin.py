"""What operators change on an account: its standing (disabled, owing a new password), and
the listing they page through. Every change locks the user row first (`FOR UPDATE`), which a
sign-in's `users.lock_standing` waits for and is waited for by: a session opened around a
disable is either refused or revoked with the others."""

from datetime import datetime

import asyncpg

from services.identity.store.rows import DISABLED, USER, Conn, User, typed
from services.runtime.db import Connection, one


async def by_public_id(con: Conn, public_id: str) -> User | None:
    row = await con.fetchrow(f"SELECT {USER} FROM users u WHERE u.public_id = $1", public_id)
    return None if row is None else typed(User, row)


async def lock(con: Connection, public_id: str) -> User | None:
    """The user, locked against sign-ins and other operators until the transaction ends."""
    assert con.is_in_transaction(), "a row lock outside a transaction is released at once"
    row = await con.fetchrow(
        f"SELECT {USER} FROM users u WHERE u.public_id = $1 FOR UPDATE", public_id
    )
    return None if row is None else typed(User, row)


async def disable(con: Connection, user_id: int, reason: str, until: datetime | None) -> User:
    return _user(
        await con.fetchrow(
            "UPDATE users u SET disabled_at = now(), disabled_until = $2, disabled_reason = $3"
            f" WHERE u.id = $1 RETURNING {USER}",
            user_id,
            until,
            reason,
        )
    )


async def enable(con: Connection, user_id: int) -> User:
    return _user(
        await con.fetchrow(
            "UPDATE users u SET disabled_at = NULL, disabled_until = NULL, disabled_reason = NULL"
            f" WHERE u.id = $1 RETURNING {USER}",
            user_id,
        )
    )


async def require_password_reset(con: Connection, user_id: int) -> User:
    return _user(
        await con.fetchrow(
            f"UPDATE users u SET password_reset_required = true WHERE u.id = $1 RETURNING {USER}",
            user_id,
        )
    )


async def list_users(
    con: Conn,
    after: tuple[datetime, str] | None,
    limit: int,
    created_after: datetime | None,
    disabled: bool | None,
) -> list[User]:
    """Oldest first, by (created_at, public_id), after the cursor `after` (keyset: each page
    costs an index range scan, however deep)."""
    rows = await con.fetch(
        f"SELECT {USER} FROM users u"
        " WHERE ($1::timestamptz IS NULL OR (u.created_at, u.public_id) > ($1, $2::text))"
        " AND ($3::timestamptz IS NULL OR u.created_at > $3)"
        f" AND ($4::boolean IS NULL OR {DISABLED} = $4)"
        " ORDER BY u.created_at, u.public_id LIMIT $5",
        after[0] if after else None,
        after[1] if after else None,
        created_after,
        disabled,
        limit,
    )
    return [typed(User, row) for row in rows]


def _user(row: asyncpg.Record | None) -> User:
    return typed(User, one(row))
