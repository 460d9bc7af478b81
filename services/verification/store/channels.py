"""The custom channel registry: who announced which channel, reaching which kind. Per
namespace: every statement reads and writes the rows of the connection's
`gatehouse.namespace` only (the column defaults to it, migration 004)."""

import asyncpg

NS = "current_setting('gatehouse.namespace')"

# Announcements take turns (a lock per namespace, held to the commit), so the count a new
# name is measured against cannot change under it.
_REGISTER = f"""
WITH old AS (SELECT kind FROM channels WHERE namespace = {NS} AND name = $1)
INSERT INTO channels (name, kind)
SELECT $1::text, $2::text
WHERE EXISTS (SELECT 1 FROM old) OR (SELECT count(*) FROM channels WHERE namespace = {NS}) < $3
ON CONFLICT (namespace, name) DO UPDATE SET kind = $2, announced_at = now()
RETURNING NOT EXISTS (SELECT 1 FROM old) OR (SELECT kind FROM old) IS DISTINCT FROM $2
"""


async def register_channel(
    pool: asyncpg.Pool, name: str, kind: str | None, cap: int
) -> bool | None:
    """Record an announcement; True when the channel is new or its kind changed, None when it
    is a new name and `cap` channels are registered already (nothing is written)."""
    async with pool.acquire() as con, con.transaction():
        await con.execute(
            f"SELECT pg_advisory_xact_lock(hashtextextended('gatehouse channels ' || {NS}, 0))"
        )
        registered: bool | None = await con.fetchval(_REGISTER, name, kind, cap)
        return registered


async def channel_kinds(pool: asyncpg.Pool) -> dict[str, str | None]:
    rows = await pool.fetch(f"SELECT name, kind FROM channels WHERE namespace = {NS}")
    return {r["name"]: r["kind"] for r in rows}
