"""The hook registry (who announced which trigger) and each hook's cache, both per namespace:
every statement reads and writes the rows of the connection's `gatehouse.namespace` only
(the column defaults to it, migration 008)."""

from datetime import datetime

import asyncpg

from services.identity.store.rows import Conn
from services.runtime.db import Connection

NS = "current_setting('gatehouse.namespace')"

# Announcements of one trigger take turns (a lock per namespace and trigger, held to the
# commit), so the count a new name is measured against cannot change under it.
_REGISTER = f"""
WITH old AS (SELECT priority FROM hooks WHERE namespace = {NS} AND trigger = $1 AND name = $2)
INSERT INTO hooks (trigger, name, priority)
SELECT $1::text, $2::text, $3::int
WHERE EXISTS (SELECT 1 FROM old)
   OR (SELECT count(*) FROM hooks WHERE namespace = {NS} AND trigger = $1) < $4
ON CONFLICT (namespace, trigger, name) DO UPDATE SET priority = $3, announced_at = now()
RETURNING (SELECT priority FROM old) IS DISTINCT FROM $3
"""


async def register_hook(
    pool: asyncpg.Pool, trigger: str, name: str, priority: int, cap: int
) -> bool | None:
    """Record an announcement; True when the hook is new or its priority changed, None when
    it is a new name and the trigger already has `cap` hooks (nothing is written)."""
    async with pool.acquire() as con, con.transaction():
        await con.execute(
            f"SELECT pg_advisory_xact_lock(hashtextextended('gatehouse hooks ' || {NS}"
            " || ' ' || $1, 0))",
            trigger,
        )
        return await con.fetchval(_REGISTER, trigger, name, priority, cap)


async def hooks_of(con: Conn, trigger: str) -> list[asyncpg.Record]:
    return await con.fetch(
        f"SELECT name, priority FROM hooks WHERE namespace = {NS} AND trigger = $1"
        " ORDER BY priority, name",
        trigger,
    )


async def cache_snapshot(con: Conn, hook: str) -> list[asyncpg.Record]:
    return await con.fetch(
        "SELECT key, value, expires_at FROM hook_cache"
        f" WHERE namespace = {NS} AND hook = $1 AND expires_at > now()",
        hook,
    )


# Keep the longest-lived entries within the caps; expired ones go too.
_EVICT = f"""
DELETE FROM hook_cache WHERE namespace = {NS} AND hook = $1 AND (expires_at <= now() OR key IN (
    SELECT key FROM (
        SELECT key, count(*) OVER w AS n,
               sum(octet_length(key) + octet_length(value)) OVER w AS bytes
        FROM hook_cache WHERE namespace = {NS} AND hook = $1 AND expires_at > now()
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
                f"DELETE FROM hook_cache WHERE namespace = {NS} AND hook = $1"
                " AND key = any($2::text[])",
                hook,
                deletes,
            )
        for key, value, expires_at, ttl_ms in sets:
            await con.execute(
                "INSERT INTO hook_cache (hook, key, value, expires_at) VALUES ($1, $2, $3,"
                " coalesce($4::timestamptz, now() + $5::bigint * interval '1 millisecond'))"
                " ON CONFLICT (namespace, hook, key) DO UPDATE SET value = excluded.value,"
                " expires_at = excluded.expires_at",
                hook,
                key,
                value,
                expires_at,
                ttl_ms,
            )
        await con.execute(_EVICT, hook, max_keys, max_bytes)
