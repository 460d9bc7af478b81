"""Sessions and remember tokens: create, slide, revoke, consume."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from contracts.envelope import CloudEvent
from services.identity.store.rows import (
    DISABLED,
    USER,
    Conn,
    RememberedUser,
    SessionUser,
    typed,
)
from services.runtime import db, outbox
from services.runtime.db import Connection


@dataclass(frozen=True)
class Chain:
    """A remember-token chain, as its tokens carry it along rotations."""

    id: str
    expires_at: datetime  # absolute: from the sign-in that proved the factors
    proved_at: datetime  # when those factors were proved; never moved by an auto-login


def chain_of(user: RememberedUser) -> Chain:
    return Chain(user.chain_id, user.chain_expires_at, user.proved_at)


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
    *,
    chain_id: str | None = None,
    proved_at: datetime | None = None,
    known_client: bytes | None = None,
    known_client_ttl: timedelta = timedelta(0),
) -> datetime:
    """Store a session with its sign-in event and the user's last sign-in; returns its first
    expiry. `clear_failures_of` also resets those throttling buckets (the identifier and
    account that just succeeded). `proved_at`: when the factors were proved, now unless the
    session continues a remember-token chain (`chain_id`). `known_client`: the client the
    factors were proved from, which gets a lane of its own for failed sign-ins."""
    expires_at: datetime = await con.fetchval(
        "WITH cleared AS (DELETE FROM login_failures WHERE account_key = ANY($7::text[])),"
        " seen AS (UPDATE users SET last_login_at = now() WHERE id = $2),"
        " known AS (INSERT INTO login_clients (user_id, client, expires_at)"
        " SELECT $2, $11::bytea, now() + $12::interval WHERE $11::bytea IS NOT NULL"
        " ON CONFLICT (user_id, client) DO UPDATE SET expires_at = EXCLUDED.expires_at),"
        f" {outbox.cte(13)},"
        " session AS (INSERT INTO sessions (public_id, user_id, token_hash, method, expires_at,"
        " absolute_expires_at, factors, chain_id, proved_at) VALUES ($1, $2, $3, $4,"
        " LEAST(now() + $5::interval, now() + $6::interval), now() + $6::interval, $8, $9,"
        " coalesce($10::timestamptz, now()))"
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
        chain_id,
        proved_at,
        known_client,
        known_client_ttl,
        *outbox.row(event),
    )
    return expires_at


async def create_remember_token(
    con: Conn,
    user_id: int,
    token_hash: bytes,
    session_id: str,
    ttl: timedelta,
    factors: Sequence[str],
    chain_id: str,
    chain: Chain | None,
    chain_ttl: timedelta,
) -> None:
    """The next token of `chain`, or the first of a new chain (`chain` None: its factors were
    proved now, and it ends `chain_ttl` from now). No token outlives its chain."""
    await con.execute(
        "WITH c AS (SELECT coalesce($7::timestamptz, now() + $9::interval) AS ends,"
        " coalesce($8::timestamptz, now()) AS proved)"
        " INSERT INTO remember_tokens (token_hash, user_id, session_public_id, expires_at,"
        " factors, chain_id, chain_expires_at, proved_at)"
        " SELECT $1, $2, $3, LEAST(now() + $4::interval, c.ends), $5, $6, c.ends, c.proved"
        " FROM c",
        token_hash,
        user_id,
        session_id,
        ttl,
        factors,
        chain_id,
        chain.expires_at if chain else None,
        chain.proved_at if chain else None,
        chain_ttl,
    )


# Sliding expiry without a write per call: the expiry moves only once it has fallen a minute
# behind where it would slide to, so a busy session costs one write a minute, not per request.
_SESSION_USER = """
WITH s AS (SELECT id, user_id, public_id, expires_at, absolute_expires_at, factors, proved_at
           FROM sessions WHERE token_hash = $1 AND expires_at > now()),
bumped AS (
    UPDATE sessions SET expires_at = LEAST(now() + $2::interval, s.absolute_expires_at)
    FROM s WHERE sessions.id = s.id
      AND s.expires_at < LEAST(now() + $2::interval, s.absolute_expires_at) - interval '60 s'
    RETURNING sessions.expires_at
)
SELECT {user}, s.public_id AS session_id, s.factors, s.proved_at,
       coalesce((SELECT expires_at FROM bumped), s.expires_at) AS session_expires_at
FROM s JOIN users u ON u.id = s.user_id
"""


async def session_user(con: Conn, token_hash: bytes, ttl: timedelta) -> SessionUser | None:
    row = await con.fetchrow(_SESSION_USER.format(user=USER), token_hash, ttl)
    return None if row is None else typed(SessionUser, row)


async def session_alive(con: Conn, token_hash: bytes) -> bool:
    """A live session of a user who is not disabled (a disable revokes the sessions too)."""
    return bool(
        await con.fetchval(
            "SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id"
            f" WHERE s.token_hash = $1 AND s.expires_at > now() AND NOT {DISABLED}",
            token_hash,
        )
    )


@dataclass(frozen=True)
class DeletedSession:
    session_id: str
    user_public_id: str


async def delete_session(con: Connection, token_hash: bytes) -> DeletedSession | None:
    """Revoke one live session and the remember tokens issued with it."""
    row = await con.fetchrow(
        "DELETE FROM sessions s USING users u WHERE s.token_hash = $1 AND s.expires_at > now()"
        " AND u.id = s.user_id RETURNING s.public_id AS session_id, u.public_id AS user_public_id",
        token_hash,
    )
    if row is None:
        return None
    deleted = typed(DeletedSession, row)
    await con.execute(
        "DELETE FROM remember_tokens WHERE session_public_id = $1", deleted.session_id
    )
    return deleted


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


async def remembered_user(con: Conn, token_hash: bytes) -> RememberedUser | None:
    """The user of a remember token that has not expired, with the factors of the sign-in that
    issued it, its chain (`chain_of`), and whether it was used already (`consumed`) or its
    chain has ended (`chain_ended`)."""
    row = await con.fetchrow(
        f"SELECT {USER}, r.factors, r.chain_id, r.chain_expires_at, r.proved_at,"
        " r.consumed_at IS NOT NULL AS consumed, r.chain_expires_at <= now() AS chain_ended"
        " FROM remember_tokens r JOIN users u ON u.id = r.user_id"
        " WHERE r.token_hash = $1 AND r.expires_at > now()",
        token_hash,
    )
    return None if row is None else typed(RememberedUser, row)


async def consume_remember_token(
    con: Connection, token_hash: bytes
) -> Literal["won", "reused", "gone"]:
    """Single use: of two concurrent auto-logins with one token, one marks it used (`won`); the
    other waits for that commit and finds it used (`reused`). The row stays, so that presenting
    it again later is noticed too. `gone`: revoked meanwhile (logout, password change)."""
    consumed = await con.fetchval(
        "UPDATE remember_tokens SET consumed_at = now()"
        " WHERE token_hash = $1 AND consumed_at IS NULL RETURNING 1",
        token_hash,
    )
    if consumed is not None:
        return "won"
    left = await con.fetchval("SELECT 1 FROM remember_tokens WHERE token_hash = $1", token_hash)
    return "gone" if left is None else "reused"


async def revoke_chain(con: Connection, chain_id: str) -> list[str] | None:
    """Every token and every session of a remember-token chain. Returns the public ids of the
    sessions removed, or None when the chain had no token left (already revoked: by a
    concurrent replay, a logout, a password change)."""
    tokens = await db.delete(con, "DELETE FROM remember_tokens WHERE chain_id = $1", chain_id)
    if tokens == 0:
        return None
    revoked = await con.fetch(
        "DELETE FROM sessions WHERE chain_id = $1 RETURNING public_id", chain_id
    )
    return sorted(row["public_id"] for row in revoked)
