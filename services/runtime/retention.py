"""Retention: every table whose rows expire names the purge that removes them.

A service registers one purge per table with `Service.retain(table, purge, why)`, and its
housekeeping runs them all every `HOUSEKEEPING_S`. The registrations are plain data on the
service object, built without connecting anything, so `tests/contract/test_retention.py` can
hold them against the tables the migrations create: a table with an expiry column and no
registered purge fails that test.
"""

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from services.runtime import idempotency, recorded_replies
from services.runtime.outbox import purge_published
from services.runtime.settings import Settings

# How often a service runs its purges (and once at start). Hourly is enough: queries already
# ignore expired rows, so a purge only gives their space back.
HOUSEKEEPING_S = 3600.0

# Removes the expired rows of one table in the service's schema; returns how many.
Purge = Callable[[asyncpg.Pool], Awaitable[int]]


@dataclass(frozen=True)
class Retention:
    table: str
    purge: Purge
    why: str


async def purge_all(
    pool: asyncpg.Pool, retained: Iterable[Retention], log: logging.Logger
) -> dict[str, int]:
    """Run every purge once; one that fails is logged and the others still run."""
    removed: dict[str, int] = {}
    for item in retained:
        try:
            removed[item.table] = count = await item.purge(pool)
        except Exception as exc:
            # Type only: an exception's text can carry the values of the query that failed.
            log.warning("purging %s failed: %s", item.table, type(exc).__name__)
            continue
        if count:
            log.info("purged %d row(s) of %s: %s", count, item.table, item.why)
    return removed


def runtime_tables(settings: Settings) -> list[Retention]:
    """The purges of the runtime's own tables, which every service's schema has."""
    keys_ttl = timedelta(seconds=settings.idempotency_ttl_s)

    async def idempotency_keys(pool: asyncpg.Pool) -> int:
        return await idempotency.purge_expired(pool, keys_ttl)

    async def replies(pool: asyncpg.Pool) -> int:
        return await recorded_replies.purge_expired(pool, keys_ttl)

    return [
        Retention(
            "idempotency",
            idempotency_keys,
            "a replay is answered from the stored reply for GATEHOUSE_IDEMPOTENCY_TTL_S",
        ),
        Retention(
            "outbox",
            purge_published,
            "published events are kept a week for inspection, unpublished ones until sent",
        ),
        Retention(
            "replies",
            replies,
            "a redelivered command is answered from its recorded reply for"
            " GATEHOUSE_IDEMPOTENCY_TTL_S",
        ),
    ]
