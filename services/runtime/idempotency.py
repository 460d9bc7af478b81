"""Idempotency keys: the same key within the TTL returns the stored reply and changes nothing.

The database settles races: the first caller inserts a claim row, a concurrent duplicate finds
it and waits for the reply instead of running the command a second time.
"""

import asyncio
from datetime import timedelta

import asyncpg

from services.runtime import db

_CLAIM = """
INSERT INTO idempotency (routing_key, key) VALUES ($1, $2)
ON CONFLICT (routing_key, key) DO UPDATE
    SET reply = NULL, created_at = now()
    WHERE idempotency.created_at < now() - $3::interval
       OR (idempotency.reply IS NULL AND idempotency.created_at < now() - $4::interval)
RETURNING true
"""


class IdempotencyStore:
    def __init__(self, pool: asyncpg.Pool, ttl: timedelta, stale_claim: timedelta) -> None:
        self._pool = pool
        self._ttl = ttl
        # A claim without a reply this old belongs to a consumer that died mid-command.
        self._stale_claim = stale_claim

    async def claim(self, routing_key: str, key: str) -> bool:
        """True when this caller runs the command; False when another call already did."""
        claimed = await self._pool.fetchval(_CLAIM, routing_key, key, self._ttl, self._stale_claim)
        return bool(claimed)

    async def stored_reply(self, routing_key: str, key: str, wait_s: float) -> bytes | None:
        """The first call's reply, waiting up to `wait_s` for a call still in flight."""
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            reply: bytes | None = await self._pool.fetchval(
                "SELECT reply FROM idempotency WHERE routing_key = $1 AND key = $2",
                routing_key,
                key,
            )
            if reply is not None or asyncio.get_running_loop().time() >= deadline:
                return reply
            await asyncio.sleep(0.05)

    async def save(self, routing_key: str, key: str, reply: bytes) -> None:
        await self._pool.execute(
            "UPDATE idempotency SET reply = $3 WHERE routing_key = $1 AND key = $2",
            routing_key,
            key,
            reply,
        )

    async def release(self, routing_key: str, key: str) -> None:
        """Forget a claim whose command failed unexpectedly, so a retry may run it."""
        await self._pool.execute(
            "DELETE FROM idempotency WHERE routing_key = $1 AND key = $2 AND reply IS NULL",
            routing_key,
            key,
        )


async def purge_expired(pool: asyncpg.Pool, ttl: timedelta) -> int:
    return await db.delete(
        pool, "DELETE FROM idempotency WHERE created_at < now() - $1::interval", ttl
    )
