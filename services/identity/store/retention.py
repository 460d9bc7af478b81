"""Purges of expired identity rows; each is registered with `Service.retain` in app.py."""

from datetime import timedelta

import asyncpg

from services.runtime import db


async def purge_sessions(pool: asyncpg.Pool) -> int:
    """Past the sliding or the absolute expiry, no token finds the row any more."""
    return await db.delete(
        pool, "DELETE FROM sessions WHERE expires_at < now() OR absolute_expires_at < now()"
    )


async def purge_remember_tokens(pool: asyncpg.Pool) -> int:
    return await db.delete(pool, "DELETE FROM remember_tokens WHERE expires_at < now()")


async def purge_reset_tokens(pool: asyncpg.Pool) -> int:
    return await db.delete(pool, "DELETE FROM reset_tokens WHERE expires_at < now()")


async def purge_mfa_challenges(pool: asyncpg.Pool) -> int:
    return await db.delete(pool, "DELETE FROM mfa_challenges WHERE expires_at < now()")


async def purge_contact_verifications(pool: asyncpg.Pool, older_than: timedelta) -> int:
    """A pending contact is confirmed with a code; once no code sent for it can be alive,
    the row confirms nothing."""
    return await db.delete(
        pool,
        "DELETE FROM contact_verifications WHERE created_at < now() - $1::interval",
        older_than,
    )


async def purge_pending_totp(pool: asyncpg.Pool, older_than: timedelta) -> int:
    """An authenticator app never confirmed: its secret counts for nothing, and the owner
    starts over with `enroll_totp`. A confirmed one lives with its user."""
    return await db.delete(
        pool,
        "DELETE FROM totp_authenticators"
        " WHERE confirmed_at IS NULL AND created_at < now() - $1::interval",
        older_than,
    )


async def purge_login_failures(pool: asyncpg.Pool, window: timedelta) -> int:
    """A window that has passed counts nothing: the next failure starts a new one."""
    return await db.delete(
        pool, "DELETE FROM login_failures WHERE window_start < now() - $1::interval", window
    )


async def purge_login_clients(pool: asyncpg.Pool) -> int:
    """A client not signed in from for GATEHOUSE_LOGIN_KNOWN_CLIENT_TTL_S is a stranger again."""
    return await db.delete(pool, "DELETE FROM login_clients WHERE expires_at < now()")


async def purge_reset_queue(pool: asyncpg.Pool) -> int:
    return await db.delete(
        pool, "DELETE FROM reset_queue WHERE created_at < now() - interval '1 day'"
    )


async def purge_reset_requests(pool: asyncpg.Pool, window: timedelta) -> int:
    """A window that has passed counts nothing: the next request starts a new one."""
    return await db.delete(
        pool, "DELETE FROM reset_requests WHERE window_start < now() - $1::interval", window
    )


async def purge_hook_cache(pool: asyncpg.Pool) -> int:
    return await db.delete(pool, "DELETE FROM hook_cache WHERE expires_at < now()")


async def forget_silent_hooks(con: asyncpg.Pool, silent_for: timedelta) -> int:
    """Remove the registrations no worker announced for `silent_for`: live workers announce
    theirs every `hook_announce_interval_s`. This namespace's only: another may keep its
    hooks for longer."""
    return await db.delete(
        con,
        "DELETE FROM hooks WHERE namespace = current_setting('gatehouse.namespace')"
        " AND announced_at < now() - $1::interval",
        silent_for,
    )


async def purge_signing_keys(pool: asyncpg.Pool) -> int:
    """A retired key verifies nothing: every token it signed has expired."""
    return await db.delete(pool, "DELETE FROM signing_keys WHERE retires_at < now()")
