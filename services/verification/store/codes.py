"""Codes: issue one under the rate limits, check and consume it in one statement, forget a
recipient's."""

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from contracts.verification.v1 import Scenario
from services.runtime import db
from services.runtime.db import Connection
from services.verification.domain import CheckResult, Policy, class_scenarios, code_class


@dataclass(frozen=True)
class Issued:
    code_id: int | None
    expires_at: datetime | None
    issued_at: datetime
    retry_after: timedelta | None


async def issue_code(
    con: Connection,
    send_to: str,
    scenario: Scenario,
    digest: bytes,
    policy: Policy,
) -> Issued:
    """Store a new code unless a rate limit applies: the resend cooldown of (recipient,
    scenario) or the hourly cap of (recipient, scenario class); see
    migrations/004_code_caps_per_class.sql."""
    row = await con.fetchrow(
        "SELECT * FROM issue_code($1, $2, $3, $4, $5, $6, $7, $8)",
        send_to,
        scenario.value,
        digest,
        policy.ttl,
        policy.max_attempts,
        policy.resend_cooldown,
        policy.hourly_cap(scenario),
        class_scenarios(code_class(scenario)),
    )
    return Issued(**dict(db.one(row)))


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
