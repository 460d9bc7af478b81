"""Two-factor login: the account's setting and the mfa challenges of sign-ins that owe a factor."""

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from services.identity.store.rows import USER, ChallengedUser, Conn, User, typed
from services.runtime.db import one


async def set_mfa(con: Conn, user_id: int, enabled: bool) -> User:
    row = await con.fetchrow(
        f"UPDATE users u SET mfa_enabled = $2, updated_at = now() WHERE u.id = $1 RETURNING {USER}",
        user_id,
        enabled,
    )
    return typed(User, one(row))


async def create_mfa_challenge(
    con: Conn,
    token_hash: bytes,
    user_id: int,
    method: str,
    remember: bool,
    client: dict[str, Any],
    ttl: timedelta,
    factors: Sequence[str],
) -> None:
    await con.execute(
        "INSERT INTO mfa_challenges (token_hash, user_id, method, remember, client, expires_at,"
        " factors) VALUES ($1, $2, $3, $4, $5::jsonb, now() + $6::interval, $7)",
        token_hash,
        user_id,
        method,
        remember,
        json.dumps(client),
        ttl,
        factors,
    )


async def mfa_challenge(con: Conn, token_hash: bytes) -> ChallengedUser | None:
    row = await con.fetchrow(
        f"SELECT {USER}, m.method, m.remember, m.client::text AS client, m.attempts,"
        " m.contact AS contact_kind,"
        " m.factors"
        " FROM mfa_challenges m JOIN users u ON u.id = m.user_id"
        " WHERE m.token_hash = $1 AND m.expires_at > now()",
        token_hash,
    )
    return None if row is None else typed(ChallengedUser, row)


async def set_mfa_contact(con: Conn, token_hash: bytes, kind: str) -> None:
    await con.execute(
        "UPDATE mfa_challenges SET contact = $2 WHERE token_hash = $1", token_hash, kind
    )


async def count_mfa_attempt(con: Conn, token_hash: bytes) -> int | None:
    """Count an attempt before the code is checked, so concurrent guesses cannot all slip in."""
    attempts: int | None = await con.fetchval(
        "UPDATE mfa_challenges SET attempts = attempts + 1"
        " WHERE token_hash = $1 AND expires_at > now() RETURNING attempts",
        token_hash,
    )
    return attempts


async def consume_mfa_challenge(con: Conn, token_hash: bytes) -> bool:
    """Single use: of two concurrent verifications, one deletes the row."""
    return (
        await con.fetchval(
            "DELETE FROM mfa_challenges WHERE token_hash = $1 AND expires_at > now() RETURNING 1",
            token_hash,
        )
        is not None
    )
