"""Purges of expired verification rows; each is registered with `Service.retain` in app.py."""

from datetime import timedelta

import asyncpg

from services.runtime import db


async def purge_old(pool: asyncpg.Pool) -> int:
    """Codes older than a day serve neither checks nor rate limits."""
    return await db.delete(pool, "DELETE FROM codes WHERE created_at < now() - interval '1 day'")


async def forget_silent_channels(pool: asyncpg.Pool, silent_for: timedelta) -> int:
    """Remove the channels no worker announced for `silent_for`: live workers announce theirs
    every `channel_announce_interval_s`."""
    return await db.delete(
        pool,
        "DELETE FROM channels WHERE namespace = current_setting('gatehouse.namespace')"
        " AND announced_at < now() - $1::interval",
        silent_for,
    )
