"""Sessions and remember tokens: create, slide, revoke, consume."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from contracts.envelope import CloudEvent
from services.identity.store.rows import DISABLED, USER, Conn
from services.runtime import outbox
from services.runtime.db import Connection


async def create_session(
    con: Conn,
    user_id: int,
    public_id: str,
    token_hash: bytes,
    method: str,
    ttl: timedelta,
    absolute_ttl: timedelta,
    event: CloudEvent[Any],
    factors: Sequence[str],
    clear_failures_of: Sequence[str],
) -> datetime:
    """Store a session with its sign-in event and the user's last sign-in; returns its first
    expiry. `clear_failures_of` also resets those throttling buckets (the identifier and
    account that just succeeded)."""
    return await con.fetchval(
        "WITH cleared AS (DELETE FROM login_failures WHERE account_key = ANY($7::text[])),"
        " seen AS (UPDATE users SET last_login_at = now() WHERE id = $2),"
        f" {outbox.cte(9)},"
        " session AS (INSERT INTO sessions (public_id, user_id, token_hash, method, expires_at,"
        " absolute_expires_at, factors) VALUES ($1, $2, $3, $4,"
        " LEAST(now() + $5::interval, now() + $6::interval), now() + $6::interval, $8)"
        " RETURNING expires_at)"
        " SELECT expires_at FROM session",
        public_id,
        user_id,
        token_hash,
        method,
        ttl,
        absolute_ttl,
        clear_failures_of,
        factors,
        *outbox.row(event),
    )


async def create_remember_token(
    con: Conn,
    user_id: int,
    token_hash: bytes,
    session_id: str,
    ttl: timedelta,
    factors: Sequence[str],
) -> None:
    await con.execute(
        "INSERT INTO remember_tokens (token_hash, user_id, session_public_id, expires_at,"
        " factors) VALUES ($1, $2, $3, now() + $4::interval, $5)",
        token_hash,
        user_id,
        session_id,
        ttl,
        factors,
    )


# Sliding expiry without a write per call: the expiry moves only once it has fallen a minute
# behind where it would slide to, so a busy session costs one write a minute, not per request.
_SESSION_USER = """
WITH s AS (SELECT id, user_id, public_id, expires_at, absolute_expires_at, factors
           FROM sessions WHERE token_hash = $1 AND expires_at > now()),
bumped AS (
    UPDATE sessions SET expires_at = LEAST(now() + $2::interval, s.absolute_expires_at)
    FROM s WHERE sessions.id = s.id
      AND s.expires_at < LEAST(now() + $2::interval, s.absolute_expires_at) - interval '60 s'
    RETURNING sessions.expires_at
)
SELECT {user}, s.public_id AS session_id, s.factors,
       coalesce((SELECT expires_at FROM bumped), s.expires_at) AS session_expires_at
FROM s JOIN users u ON u.id = s.user_id
"""


async def session_user(con: Conn, token_hash: bytes, ttl: timedelta) -> asyncpg.Record | None:
    return await con.fetchrow(_SESSION_USER.format(user=USER), token_hash, ttl)


async def session_alive(con: Conn, token_hash: bytes) -> bool:
    """A live session of a user who is not disabled (a disable revokes the sessions too)."""
    return bool(
        await con.fetchval(
            "SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id"
            f" WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT {DISABLED}",
            token_hash,
        )
    )


async def delete_session(con: Connection, token_hash: bytes) -> asyncpg.Record | None:
    """Revoke one live session and the remember tokens issued with it."""
    row = await con.fetchrow(
        "DELETE FROM sessions s USING users u WHERE s.token_hash = $1 AND s.expires_at > now()"
        " AND u.id = s.user_id RETURNING s.public_id AS session_id, u.public_id AS user_public_id",
        token_hash,
    )
    if row is not None:
        await con.execute(
            "DELETE FROM remember_tokens WHERE session_public_id = $1", row["session_id"]
        )
    return row


async def revoke_sessions(
    con: Connection, user_id: int, keep_session: str | None = None
) -> list[str]:
    """Every session and remember token of the user but `keep_session` and its own. Returns
    the public ids of the sessions removed (the `sid`s of their access tokens)."""
    keep = keep_session or ""
    revoked = await con.fetch(
        "DELETE FROM sessions WHERE user_id = $1 AND public_id <> $2 RETURNING public_id",
        user_id,
        keep,
    )
    await con.execute(
        "DELETE FROM remember_tokens WHERE user_id = $1 AND session_public_id <> $2",
        user_id,
        keep,
    )
    return sorted(row["public_id"] for row in revoked)


async def revoke_challenges(con: Connection, user_id: int) -> None:
    """Pending two-factor sign-ins: a half-opened session goes with the sessions."""
    await con.execute("DELETE FROM mfa_challenges WHERE user_id = $1", user_id)


async def remembered_user(con: Conn, token_hash: bytes) -> asyncpg.Record | None:
    """The user of a live remember token, with the factors of the sign-in that issued it."""
    return await con.fetchrow(
        f"SELECT {USER}, r.factors FROM remember_tokens r JOIN users u ON u.id = r.user_id"
        " WHERE r.token_hash = $1 AND r.expires_at > now()",
        token_hash,
    )


async def consume_remember_token(con: Connection, token_hash: bytes) -> bool:
    """Single use: of two concurrent auto-logins with one token, one deletes it."""
    deleted = await con.fetchval(
        "DELETE FROM remember_tokens WHERE token_hash = $1 AND expires_at > now() RETURNING 1",
        token_hash,
    )
    return deleted is not None
