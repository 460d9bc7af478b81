"""Authenticator apps (TOTP): one per user, pending until confirmed, each time step accepted
once (services/identity/authenticator.py)."""

from dataclasses import dataclass
from datetime import datetime

from services.identity.store.rows import Conn, typed


@dataclass(frozen=True)
class Authenticator:
    secret_sealed: bytes
    confirmed_at: datetime | None
    created_at: datetime


async def save_pending(con: Conn, user_id: int, sealed: bytes) -> bool:
    """A new pending secret, replacing a pending one; False when one is confirmed already."""
    return (
        await con.fetchval(
            "INSERT INTO totp_authenticators AS t (user_id, secret_sealed) VALUES ($1, $2)"
            " ON CONFLICT (user_id) DO UPDATE"
            " SET secret_sealed = EXCLUDED.secret_sealed, created_at = now(), last_step = NULL"
            " WHERE t.confirmed_at IS NULL RETURNING 1",
            user_id,
            sealed,
        )
        is not None
    )


async def authenticator(con: Conn, user_id: int) -> Authenticator | None:
    row = await con.fetchrow(
        "SELECT secret_sealed, confirmed_at, created_at FROM totp_authenticators"
        " WHERE user_id = $1",
        user_id,
    )
    return None if row is None else typed(Authenticator, row)


async def confirm(con: Conn, user_id: int, sealed: bytes, step: int) -> bool:
    """The pending secret whose code was checked (`sealed`: not one an enrolment since has
    replaced) now counts; its step is spent. False when it was confirmed or replaced meanwhile."""
    return (
        await con.fetchval(
            "UPDATE totp_authenticators SET confirmed_at = now(), last_step = $3"
            " WHERE user_id = $1 AND secret_sealed = $2 AND confirmed_at IS NULL RETURNING 1",
            user_id,
            sealed,
            step,
        )
        is not None
    )


async def accept_step(con: Conn, user_id: int, step: int) -> bool:
    """Spend a time step of the confirmed authenticator: compare-and-set, so of two concurrent
    sign-ins with one code (or any earlier one) exactly one gets True."""
    return (
        await con.fetchval(
            "UPDATE totp_authenticators SET last_step = $2"
            " WHERE user_id = $1 AND confirmed_at IS NOT NULL"
            " AND (last_step IS NULL OR last_step < $2) RETURNING 1",
            user_id,
            step,
        )
        is not None
    )


async def remove(con: Conn, user_id: int) -> bool | None:
    """Remove the authenticator: whether it was confirmed, None when there was none."""
    confirmed: bool | None = await con.fetchval(
        "DELETE FROM totp_authenticators WHERE user_id = $1 RETURNING confirmed_at IS NOT NULL",
        user_id,
    )
    return confirmed
