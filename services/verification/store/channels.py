"""The custom channel registry: who announced which channel, reaching which kind."""

import asyncpg


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
