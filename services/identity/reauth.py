"""Step-up: what takes an account asks for a recent proof that the caller is its owner.

Turning two-factor login off, binding, replacing or removing a contact, changing the password,
deregistering, and changing where reset mail goes would let a stolen session keep the account
after the session is revoked. So each of those flows calls this module first, and a session
token alone is not enough: the session's factors must have been proved within
`GATEHOUSE_REAUTH_WINDOW_S` (a session from `auto_login` carries the proof time of the sign-in
that started its remember-token chain, never a new one), or the request gives the password
now. Otherwise `reauthentication_required`.

A password or code given for this is counted per account before it is checked (the bucket
`reauth:user:<id>`, `GATEHOUSE_LOGIN_MAX_FAILURES` per `GATEHOUSE_LOGIN_FAILURE_WINDOW_S`,
then `too_many_attempts` with `retry_after_s`), so a stolen session cannot guess the password
without limit; a right one clears the count.
"""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from contracts.errors import ErrorCode
from services.identity import domain, store, throttling
from services.identity.domain import IdentityError
from services.identity.service import IdentityService
from services.identity.settings import IdentitySettings
from services.identity.store.rows import SessionUser

# Names `email_property_name` takes that are no user property (see reset_mail.py).
_NOT_PROPERTIES = frozenset({"email", "username", "_username"})


def reauthentication_required() -> IdentityError:
    return IdentityError(
        "this change needs a recent sign-in: sign in again, or give the password",
        code=ErrorCode.reauthentication_required,
    )


def is_recent(identity: IdentityService, current: SessionUser) -> bool:
    """Whether the session's factors were proved within the window (`current` is a row of
    `IdentityService.current`)."""
    return bool(current.proved_at > datetime.now(UTC) - identity.reauth_window)


async def require(
    identity: IdentityService, current: SessionUser, password: str | None, *, needed: bool = True
) -> None:
    """A recent sign-in, or the right password now, when the change is `needed` to take an
    account. A password given is checked whatever the session or the change: never ignored."""
    if password is not None:
        await check_password(identity, current.id, password)
    elif needed and not is_recent(identity, current):
        raise reauthentication_required()


async def check_password(identity: IdentityService, user_id: int, password: str) -> str:
    """The account's password, counted before it is checked; returns the hash it matched (for
    a compare-and-set). A user without a password gets `invalid_credentials` after the same
    work."""
    async with counted(identity, user_id) as stored:
        matches, _ = await identity.hasher.verify(password, stored)
        if not matches or stored is None:
            raise domain.invalid_credentials()
    assert stored is not None
    return stored


@asynccontextmanager
async def counted(identity: IdentityService, user_id: int) -> AsyncIterator[str | None]:
    """Count one proof (a password or a code) against the account before the block checks it;
    over the limit, refuse before checking anything. The block gets the stored password hash.
    A block that raises leaves the count; one that returns clears it."""
    attempt = await store.credentials.count_reauth(
        identity.pool, user_id, identity.policy.failure_window
    )
    refusal = throttling.reauth_throttled(
        identity.policy, attempt.failures, attempt.window_start, attempt.now
    )
    if refusal is not None:
        raise refusal
    yield attempt.password_hash
    await store.credentials.clear_failures(identity.pool, [store.credentials.reauth_key(user_id)])


def reset_mail_properties(settings: IdentitySettings) -> frozenset[str]:
    """User properties the operator lets reset mail go to (`GATEHOUSE_RESET_TOKEN_EMAIL_PROPERTY`
    and `GATEHOUSE_RESET_MAIL_PROPERTIES`): a change to one could re-point where the account's
    reset tokens go. (They go only to the verified email anyway; step-up keeps a stolen
    session from even trying.)"""
    return settings.reset_properties - _NOT_PROPERTIES


async def require_for_properties(
    identity: IdentityService,
    current: SessionUser,
    patch: Mapping[str, Any],
    password: str | None,
) -> None:
    """Step-up only for a patch that touches a reset-mail property; other properties are the
    user's own data."""
    needed = bool(reset_mail_properties(identity.settings) & patch.keys())
    await require(identity, current, password, needed=needed)
