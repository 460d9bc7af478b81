"""SQL for the verification schema."""

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.runtime import db
from services.verification.domain import CheckResult, Policy


@dataclass(frozen=True)
class Issued:
    code_id: int | None
    expires_at: datetime | None
    issued_at: datetime
    retry_after: timedelta | None


async def issue_code(
    con: asyncpg.Connection,
    send_to: str,
    scenario: str,
    digest: bytes,
    policy: Policy,
) -> Issued:
    """Store a new code unless a rate limit applies (see migrations/002_issue_code.sql)."""
    row = await con.fetchrow(
        "SELECT * FROM issue_code($1, $2, $3, $4, $5, $6, $7)",
        send_to,
        scenario,
        digest,
        policy.ttl,
        policy.max_attempts,
        policy.resend_cooldown,
        policy.hourly_cap,
    )
    return Issued(**dict(row))


# One statement decides and consumes: PostgreSQL re-checks the WHERE clause after waiting on
# a concurrent update of the same row, so of N simultaneous correct checks exactly one wins.
_CHECK = """
UPDATE codes SET
    attempts = attempts + CASE WHEN digest = $3 THEN 0 ELSE 1 END,
    consumed_at = CASE
        WHEN digest = $3 AND expires_at > now() AND attempts < max_attempts THEN now()
    END
WHERE send_to = $1 AND scenario = $2 AND consumed_at IS NULL AND voided_at IS NULL
RETURNING digest = $3 AS matched, expires_at > now() AS fresh, attempts, max_attempts,
          consumed_at IS NOT NULL AS consumed
"""


async def check_and_consume(
    pool: asyncpg.Pool, send_to: str, scenario: str, digest: bytes
) -> CheckResult | None:
    row = await pool.fetchrow(_CHECK, send_to, scenario, digest)
    return None if row is None else CheckResult(**dict(row))


async def purge(pool: asyncpg.Pool, contacts: list[str]) -> int:
    return await db.delete(pool, "DELETE FROM codes WHERE send_to = ANY($1::text[])", contacts)


async def purge_old(pool: asyncpg.Pool) -> int:
    """Codes older than a day serve neither checks nor rate limits."""
    return await db.delete(pool, "DELETE FROM codes WHERE created_at < now() - interval '1 day'")


# --- custom channels -----------------------------------------------------------------------


async def register_channel(pool: asyncpg.Pool, name: str, kind: str | None) -> bool:
    """Record an announcement; True when the channel is new or its kind changed."""
    return await pool.fetchval(
        "WITH old AS (SELECT kind FROM channels WHERE name = $1)"
        " INSERT INTO channels (name, kind) VALUES ($1, $2)"
        " ON CONFLICT (name) DO UPDATE SET kind = $2, announced_at = now()"
        " RETURNING NOT EXISTS (SELECT 1 FROM old) OR (SELECT kind FROM old) IS DISTINCT FROM $2",
        name,
        kind,
    )


async def channel_kinds(pool: asyncpg.Pool) -> dict[str, str | None]:
    return {r["name"]: r["kind"] for r in await pool.fetch("SELECT name, kind FROM channels")}


async def forget_silent_channels(pool: asyncpg.Pool, silent_for: timedelta) -> int:
    """Remove the channels no worker announced for `silent_for`: live workers announce theirs
    every `channel_announce_interval_s`."""
    return await db.delete(
        pool, "DELETE FROM channels WHERE announced_at < now() - $1::interval", silent_for
    )
