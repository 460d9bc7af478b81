"""The hook registry (who announced which trigger) and each trigger's cache, both per
namespace: every statement reads and writes the rows of the connection's `gatehouse.namespace`
only (the column defaults to it, migration 011). The cache is the trigger's, shared by its
hooks (seed 002: "scoped to the Trigger in which they are set"; migration 012)."""

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.identity.store.rows import Conn, typed
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
        changed: bool | None = await con.fetchval(_REGISTER, trigger, name, priority, cap)
        return changed


@dataclass(frozen=True)
class Hook:
    """A registered hook of a trigger: called in `priority` order."""

    name: str
    priority: int


@dataclass(frozen=True)
class CacheEntry:
    """One entry of a trigger's hook cache."""

    key: str
    value: str
    expires_at: datetime


async def hooks_of(con: Conn, trigger: str) -> list[Hook]:
    rows = await con.fetch(
        f"SELECT name, priority FROM hooks WHERE namespace = {NS} AND trigger = $1"
        " ORDER BY priority, name",
        trigger,
    )
    return [typed(Hook, row) for row in rows]


async def cache_snapshot(con: Conn, trigger: str) -> list[CacheEntry]:
    rows = await con.fetch(
        "SELECT key, value, expires_at FROM hook_cache"
        f" WHERE namespace = {NS} AND trigger = $1 AND expires_at > now()",
        trigger,
    )
    return [typed(CacheEntry, row) for row in rows]


# Keep the longest-lived entries within the caps; expired ones go too.
_EVICT = f"""
DELETE FROM hook_cache WHERE namespace = {NS} AND trigger = $1 AND (
  expires_at <= now() OR key IN (
    SELECT key FROM (
        SELECT key, count(*) OVER w AS n,
               sum(octet_length(key) + octet_length(value)) OVER w AS bytes
        FROM hook_cache WHERE namespace = {NS} AND trigger = $1 AND expires_at > now()
        WINDOW w AS (ORDER BY expires_at DESC, key)
    ) ranked WHERE n > $2 OR bytes > $3))
"""

# The lifetime asked for (an instant, else a ttl), never beyond `max_ttl_ms` from now: the
# database's clock, the one expiry is read by, decides.
_SET = """
INSERT INTO hook_cache (trigger, key, value, hook, expires_at)
VALUES ($1, $2, $3, $4, least(
    coalesce($5::timestamptz, now() + $6::bigint * interval '1 millisecond'),
    now() + $7::bigint * interval '1 millisecond'))
ON CONFLICT (namespace, trigger, key) DO UPDATE
SET value = excluded.value, hook = excluded.hook, expires_at = excluded.expires_at
"""


@dataclass(frozen=True)
class CacheLimits:
    max_keys: int
    max_bytes: int  # keys and values together
    max_ttl_ms: int


@dataclass(frozen=True)
class CacheSet:
    key: str
    value: str
    expires_at: datetime | None
    ttl_ms: int  # used when expires_at is None


@dataclass(frozen=True)
class CacheDelete:
    key: str


async def update_cache(
    con: Connection,
    trigger: str,
    hook: str,
    changes: list[CacheSet | CacheDelete],
    limits: CacheLimits,
) -> None:
    """Apply one hook's cache operations to its trigger's cache in the order the hook made
    them (a set then a delete of one key leaves none, as the hook's own `get` saw), then
    evict beyond the caps."""
    async with con.transaction():
        for change in changes:
            if isinstance(change, CacheDelete):
                await con.execute(
                    f"DELETE FROM hook_cache WHERE namespace = {NS} AND trigger = $1 AND key = $2",
                    trigger,
                    change.key,
                )
                continue
            await con.execute(
                _SET,
                trigger,
                change.key,
                change.value,
                hook,
                change.expires_at,
                change.ttl_ms,
                limits.max_ttl_ms,
            )
        await con.execute(_EVICT, trigger, limits.max_keys, limits.max_bytes)
