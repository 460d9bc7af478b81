"""SQL for the verification schema."""

from datetime import datetime, timedelta

import asyncpg

from services.verification.domain import CheckResult


async def lock_recipient(con: asyncpg.Connection, send_to: str) -> None:
    """Serialise sends to one recipient so cooldown and hourly cap hold under concurrency."""
    await con.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", send_to)


async def send_history(
    con: asyncpg.Connection, send_to: str, scenario: str
) -> tuple[datetime, datetime | None, list[datetime]]:
    """The database clock, the last send for this scenario, and every send of the last hour."""
    rows = await con.fetch(
        "SELECT now() AS now, scenario, created_at FROM codes"
        " WHERE send_to = $1 AND NOT undelivered AND created_at > now() - interval '1 hour'",
        send_to,
    )
    now = rows[0]["now"] if rows else await con.fetchval("SELECT now()")
    times = [r["created_at"] for r in rows]
    same = [r["created_at"] for r in rows if r["scenario"] == scenario]
    return now, (max(same) if same else None), times


async def replace_code(
    con: asyncpg.Connection,
    send_to: str,
    scenario: str,
    digest: bytes,
    ttl: timedelta,
    max_attempts: int,
) -> tuple[int, datetime]:
    """Void the live code for (send_to, scenario) and store the new one: (id, expires_at)."""
    await con.execute(
        "UPDATE codes SET voided_at = now()"
        " WHERE send_to = $1 AND scenario = $2 AND consumed_at IS NULL AND voided_at IS NULL",
        send_to,
        scenario,
    )
    row = await con.fetchrow(
        "INSERT INTO codes (send_to, scenario, digest, expires_at, max_attempts)"
        " VALUES ($1, $2, $3, now() + $4::interval, $5) RETURNING id, expires_at",
        send_to,
        scenario,
        digest,
        ttl,
        max_attempts,
    )
    return row["id"], row["expires_at"]


async def void_undelivered(pool: asyncpg.Pool, code_id: int) -> None:
    await pool.execute(
        "UPDATE codes SET voided_at = now(), undelivered = true WHERE id = $1", code_id
    )


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
    result = await pool.execute("DELETE FROM codes WHERE send_to = ANY($1::text[])", contacts)
    return int(result.split()[-1])


async def purge_old(pool: asyncpg.Pool) -> int:
    """Codes older than a day serve neither checks nor rate limits."""
    result = await pool.execute("DELETE FROM codes WHERE created_at < now() - interval '1 day'")
    return int(result.split()[-1])
