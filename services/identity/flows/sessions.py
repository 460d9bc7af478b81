"""Sign in and out: login, logout, authenticate, is_authenticated, auto_login, get_user, and
the access tokens' refresh and jwks."""

from datetime import datetime

import asyncpg

from contracts.errors import ErrorCode
from contracts.events import v1 as events
from contracts.hooks.v1 import Client
from contracts.identity import v1
from contracts.verification.v1 import Scenario
from gatehouse.errors import InvalidParams
from services.identity import domain, gate, store, throttling
from services.identity.domain import IdentityError, IdKind
from services.identity.gate import Factor
from services.identity.service import IdentityService
from services.identity.views import owner_of, user_view
from services.runtime import caller
from services.runtime.work import UnitOfWork


async def login(identity: IdentityService, uow: UnitOfWork, request: v1.Login) -> v1.LoginResult:
    ident = identity.any_ident(request.username, request.email, request.phone)
    if (request.password is None) == (request.code is None):
        raise InvalidParams("password", "give exactly one of password or code")
    if request.code is not None:
        return await _login_with_code(identity, uow, ident, request)
    return await _login_with_password(identity, uow, ident, request)


async def _login_with_password(
    identity: IdentityService, uow: UnitOfWork, ident: domain.Identifier, request: v1.Login
) -> v1.LoginResult:
    client = identity.client_digest(request.client)
    spray = throttling.spray_keys(client, caller.get())
    attempt = await store.credentials.attempt(
        identity.pool,
        ident,
        identity.policy.failure_window,
        client,
        spray,
        identity.spray_limits.window,
    )
    buckets = store.credentials.buckets(attempt)
    now = attempt["now"]
    if attempt["familiar"]:
        # A client the owner proved a factor from: its own lane, and nothing else, counts.
        assert client is not None
        keys: tuple[str, ...] = (throttling.lane_key(attempt["id"], client),)
        refusal = throttling.throttled(identity.policy, *_counts(buckets[keys[0]]), now)
    else:
        keys = (ident.throttle_key, *_account_key(attempt))
        refusal = throttling.throttled(
            identity.policy, *_counts(buckets[ident.throttle_key]), now
        ) or throttling.spray_refusal(identity.spray_limits, buckets, now)
    if refusal is not None:
        raise refusal
    # Unknown user, user without a password, wrong password, an account throttled through
    # another of its identifiers: one verify each, one reply, nothing that links identifiers.
    stored = attempt["password_hash"]
    account = buckets.get(store.rows.user_key(attempt["id"])) if attempt["id"] else None
    if account is not None and throttling.over_limit(identity.policy, *_counts(account), now):
        stored = None
    matches, new_hash = await identity.hasher.verify(request.password or "", stored)
    if not matches:
        raise domain.invalid_credentials()
    if not attempt["familiar"]:
        await store.credentials.refund(identity.pool, spray)
    if new_hash is not None:
        await store.credentials.rehash(identity.pool, attempt["id"], stored, new_hash)
    return await gate.sign_in(
        identity,
        uow,
        attempt,
        method=f"{ident.kind.value}_password",
        factors=frozenset({Factor.password}),
        client=request.client,
        remember=request.remember,
        clear_failures_of=keys,
    )


def _counts(bucket: throttling.Bucket) -> tuple[int, datetime]:
    return bucket.failures, bucket.window_start


def _account_key(attempt: asyncpg.Record) -> tuple[str, ...]:
    return (store.rows.user_key(attempt["id"]),) if attempt["id"] is not None else ()


async def _login_with_code(
    identity: IdentityService, uow: UnitOfWork, ident: domain.Identifier, request: v1.Login
) -> v1.LoginResult:
    if ident.kind is IdKind.username:
        raise InvalidParams("code", "a code signs in with an email or a phone")
    # Verification limits attempts per code; the code is checked before the account is
    # looked up, so a reply never tells whether the contact has an account without it. Only
    # an account that verified the contact is found: one that merely claimed it answers like
    # none (services/identity/claims.py).
    await identity.check_code(ident, Scenario.login, request.code or "")
    user = await store.users.find_proven(identity.pool, ident)
    if user is None:
        raise domain.invalid_credentials()
    return await gate.sign_in(
        identity,
        uow,
        user,
        method=f"{ident.kind.value}_code",
        factors=frozenset({Factor.code}),
        client=request.client,
        remember=request.remember,
    )


async def logout(identity: IdentityService, uow: UnitOfWork, request: v1.Logout) -> v1.Done:
    async with uow.transaction() as con:
        row = await store.sessions.delete_session(con, domain.token_digest(request.token))
        if row is None:
            raise domain.login_required()
        await identity.emit(
            con,
            events.user_logged_out,
            events.UserLoggedOut(
                user_id=row["user_public_id"],
                session_id=row["session_id"],
                revoked_session_ids=[row["session_id"]],
            ),
            row["user_public_id"],
        )
        return await uow.commit(v1.Done())


async def authenticate(
    identity: IdentityService, uow: UnitOfWork, request: v1.Authenticate
) -> v1.Authenticated:
    row = await identity.current(request.token)
    return v1.Authenticated(user=user_view(row), expires_at=row["session_expires_at"])


async def is_authenticated(
    identity: IdentityService, uow: UnitOfWork, request: v1.IsAuthenticated
) -> v1.AuthenticationState:
    alive = await store.sessions.session_alive(identity.pool, domain.token_digest(request.token))
    return v1.AuthenticationState(authenticated=alive)


async def get_user(
    identity: IdentityService, uow: UnitOfWork, request: v1.GetUser
) -> v1.UserResult:
    return v1.UserResult(user=user_view(await identity.current(request.token)))


async def refresh(identity: IdentityService, uow: UnitOfWork, request: v1.Refresh) -> v1.Refreshed:
    if not identity.tokens.enabled:
        raise IdentityError(
            "access tokens are off (GATEHOUSE_ACCESS_TOKENS)", code=ErrorCode.invalid_operation
        )
    # Slides the session as `authenticate` does; revoked, expired or deleted: login_required.
    return gate.refresh(identity, await identity.current(request.token))


async def jwks(identity: IdentityService, uow: UnitOfWork, request: v1.GetJwks) -> v1.Jwks:
    return identity.tokens.jwks()


async def auto_login(
    identity: IdentityService, uow: UnitOfWork, request: v1.AutoLogin
) -> v1.SignedIn:
    if not identity.policy.auto_login:
        raise IdentityError("auto-login is disabled", code=ErrorCode.invalid_operation)
    digest = domain.token_digest(request.remember_token)
    user = await store.sessions.remembered_user(identity.pool, digest)
    if user is None:
        raise domain.login_required()
    if user["consumed"]:
        await _chain_reused(identity, user, request.client)
        raise domain.login_required()
    if user["chain_ended"]:
        raise IdentityError(
            "this remember token's chain has ended: sign in again", code=ErrorCode.login_required
        )
    # The factors of the sign-in that issued the token: one from before two-factor login
    # applied to the account does not sign in again without a code.
    admission = await gate.admit_user(
        identity,
        user,
        method="remember_token",
        factors=gate.factors_of(user),
        client=request.client,
    )
    if admission.owes_factor:
        raise IdentityError(
            "this account now asks for a second factor: sign in again",
            code=ErrorCode.login_required,
        )
    chain = store.sessions.chain_of(user)
    try:
        async with uow.transaction() as con:
            # Single use, and rotated: the reply carries its successor, in the same chain.
            outcome = await store.sessions.consume_remember_token(con, digest)
            if outcome == "reused":  # a concurrent auto-login with the same token won
                raise _Reused
            if outcome == "gone":
                raise domain.login_required()
            signed = await gate.enter(identity, con, user, admission, remember=True, chain=chain)
            return await uow.commit(gate.signed_in(signed))
    except _Reused:
        # Leaving the block rolled the command's transaction back and gave its connection
        # back: the revocation takes one of its own without holding two.
        await _chain_reused(identity, user, request.client)
        raise domain.login_required() from None


class _Reused(Exception):
    """The remember token was used by a concurrent auto-login that committed first."""


async def _chain_reused(
    identity: IdentityService, user: asyncpg.Record, client: Client | None
) -> None:
    """A used remember token came back: one of its two holders is a thief, and nothing tells
    which. The chain and every session it issued go, and the owner is told. In a transaction
    of its own: the refusal that follows rolls the command's back, and this must stay. Called
    with no transaction of the command open, so that it never holds two pool connections."""
    async with identity.pool.acquire() as con, con.transaction():
        revoked = await store.sessions.revoke_chain(con, user["chain_id"])
        if revoked is None:  # revoked already (a concurrent replay): told once
            return
        await identity.emit(
            con,
            events.user_remember_token_reused,
            events.UserRememberTokenReused(
                user_id=user["public_id"],
                revoked_session_ids=revoked,
                owner=owner_of(user),
                client=client,
            ),
            user["public_id"],
        )
    identity.log.warning("a used remember token was presented again: its chain is revoked")
