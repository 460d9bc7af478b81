"""Contact verification: the one pending email or phone of a user, until confirmed."""

import asyncpg

from services.identity.store.rows import Conn
from services.runtime.db import Connection


async def start_contact_verification(con: Conn, user_id: int, kind: str, value: str) -> None:
    """One pending contact per user: a new one replaces the old."""
    await con.execute(
        "INSERT INTO contact_verifications (user_id, kind, value) VALUES ($1, $2, $3)"
        " ON CONFLICT (user_id) DO UPDATE SET kind = $2, value = $3, created_at = now()",
        user_id,
        kind,
        value,
    )


async def pending_contact(con: Conn, user_id: int) -> asyncpg.Record | None:
    return await con.fetchrow(
        "SELECT kind, value FROM contact_verifications WHERE user_id = $1", user_id
    )


async def finish_contact_verification(con: Connection, user_id: int, kind: str, value: str) -> bool:
    return (
        await con.fetchval(
            "DELETE FROM contact_verifications WHERE user_id = $1 AND kind = $2 AND value = $3"
            " RETURNING 1",
            user_id,
            kind,
            value,
        )
        is not None
    )
