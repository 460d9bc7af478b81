"""The per-message claim that makes a message leave once.

States: `sending` (claimed by a consumer, provider call in flight) → `sent` | `failed` |
`retrying` (waiting in a delay queue) → `sending` again for the next attempt. Every move is
one `UPDATE … WHERE status = … RETURNING`, so of two copies of a message only the one whose
update matched goes on; the database settles the race, not Python."""

from dataclasses import dataclass

import asyncpg

from services.notifier.domain import Job
from services.runtime import db
from services.runtime.db import Connection


async def claim(pool: asyncpg.Pool, job: Job, attempt: int) -> bool:
    """Claim `attempt` of `job`. False: a copy of this message is or was handled already."""
    if attempt == 1:
        row = await pool.fetchval(
            "INSERT INTO messages"
            " (message_id, channel, template, recipient_key, recipient_masked, status)"
            " VALUES ($1, $2, $3, $4, $5, 'sending')"
            " ON CONFLICT (message_id) DO NOTHING RETURNING 1",
            job.message_id,
            job.channel,
            job.template,
            job.recipient_key,
            job.masked_to,
        )
    else:
        row = await pool.fetchval(
            "UPDATE messages SET status = 'sending', attempts = $2, updated_at = now()"
            " WHERE message_id = $1 AND status = 'retrying' AND attempts = $2 - 1 RETURNING 1",
            job.message_id,
            attempt,
        )
    return row is not None


async def finish(con: Connection, message_id: str, status: str, reason: str | None) -> bool:
    """`sending` → `sent` / `failed` / `retrying`; False if the claim was lost meanwhile."""
    row = await con.fetchval(
        "UPDATE messages SET status = $2, reason = $3, updated_at = now()"
        " WHERE message_id = $1 AND status = 'sending' RETURNING 1",
        message_id,
        status,
        reason,
    )
    return row is not None


async def give_up_interrupted(con: Connection, message_id: str) -> int | None:
    """A redelivered copy found its message still `sending`: the consumer that claimed it
    died mid-send. Whether it left is unknown, and sending again could deliver it twice, so
    it is failed. Returns the attempts, or None when the row is not `sending`."""
    attempts: int | None = await con.fetchval(
        "UPDATE messages SET status = 'failed', reason = $2, updated_at = now()"
        " WHERE message_id = $1 AND status = 'sending' RETURNING attempts",
        message_id,
        "interrupted during sending: outcome unknown",
    )
    return attempts


@dataclass(frozen=True)
class MessageStatus:
    """Where a message is: its status, the attempts made, why it failed or waits."""

    status: str
    attempts: int
    reason: str | None


async def status_of(pool: asyncpg.Pool, message_id: str) -> MessageStatus | None:
    row = await pool.fetchrow(
        "SELECT status, attempts, reason FROM messages WHERE message_id = $1", message_id
    )
    return None if row is None else MessageStatus(row["status"], row["attempts"], row["reason"])


async def forget_recipients(pool: asyncpg.Pool, keys: list[bytes]) -> int:
    return await db.delete(
        pool, "DELETE FROM messages WHERE recipient_key = ANY($1::bytea[])", keys
    )
