"""The hook registry (who announced which trigger) and each hook's cache."""

from datetime import datetime

import asyncpg

from services.identity.store.rows import Conn
from services.runtime.db import Connection


async def register_hook(con: Conn, trigger: str, name: str, priority: int) -> bool:
    """Record an announcement; True when the hook is new or its priority changed."""
    return await con.fetchval(
        "WITH old AS (SELECT priority FROM hooks WHERE trigger = $1 AND name = $2)"
        " INSERT INTO hooks (trigger, name, priority) VALUES ($1, $2, $3)"
        " ON CONFLICT (trigger, name) DO UPDATE SET priority = $3, announced_at = now()"
        " RETURNING (SELECT priority FROM old) IS DISTINCT FROM $3",
        trigger,
        name,
        priority,
    )


async def hooks_of(con: Conn, trigger: str) -> list[asyncpg.Record]:
    return await con.fetch(
        "SELECT name, priority FROM hooks WHERE trigger = $1 ORDER BY priority, name", trigger
    )


async def cache_snapshot(con: Conn, hook: str) -> list[asyncpg.Record]:
    return await con.fetch(
        "SELECT key, value, expires_at FROM hook_cache WHERE hook = $1 AND expires_at > now()",
        hook,
    )


# Keep the longest-lived entries within the caps; expired ones go too.
_EVICT = """
DELETE FROM hook_cache WHERE hook = $1 AND (expires_at <= now() OR key IN (
    SELECT key FROM (
        SELECT key, count(*) OVER w AS n,
               sum(octet_length(key) + octet_length(value)) OVER w AS bytes
        FROM hook_cache WHERE hook = $1 AND expires_at > now()
        WINDOW w AS (ORDER BY expires_at DESC, key)
    ) ranked WHERE n > $2 OR bytes > $3))
"""


async def update_cache(
    con: Connection,
    hook: str,
    sets: list[tuple[str, str, datetime | None, int]],
    deletes: list[str],
    max_keys: int,
    max_bytes: int,
) -> None:
    """`sets`: (key, value, expires_at or None, ttl_ms used when expires_at is None)."""
    async with con.transaction():
        if deletes:
            await con.execute(
                "DELETE FROM hook_cache WHERE hook = $1 AND key = any($2::text[])", hook, deletes
            )
        for key, value, expires_at, ttl_ms in sets:
            await con.execute(
                "INSERT INTO hook_cache (hook, key, value, expires_at) VALUES ($1, $2, $3,"
                " coalesce($4::timestamptz, now() + $5::bigint * interval '1 millisecond'))"
                " ON CONFLICT (hook, key) DO UPDATE SET value = excluded.value,"
                " expires_at = excluded.expires_at",
                hook,
                key,
                value,
                expires_at,
                ttl_ms,
            )
        await con.execute(_EVICT, hook, max_keys, max_bytes)
