"""Purges of expired notifier rows; each is registered with `Service.retain` in app.py."""

import asyncpg

from services.runtime import db

# Rows are kept this long after their last change, which is how long a late duplicate is
# still recognised.
KEEP_DAYS = 7


async def purge_old(pool: asyncpg.Pool, days: int = KEEP_DAYS) -> int:
    """Finished rows, and rows abandoned mid-send or mid-retry (retries span minutes)."""
    return await db.delete(
        pool, "DELETE FROM messages WHERE updated_at < now() - make_interval(days => $1)", days
    )


async def purge_budgets(pool: asyncpg.Pool) -> int:
    """Send budgets of windows that ended: only the current hour's are ever read."""
    return await db.delete(
        pool, "DELETE FROM send_budgets WHERE window_start < now() - interval '2 hours'"
    )
