"""Sign in and out: login, logout, authenticate, is_authenticated, auto_login, get_user, and
the access tokens' refresh and jwks."""

from contracts.errors import ErrorCode
from contracts.events import v1 as events
from contracts.identity import v1
from contracts.verification.v1 import Scenario
from services.identity import domain, gate, store, throttling
from services.identity.domain import IdentityError, IdKind
from services.identity.gate import Factor
from services.identity.service import IdentityService
from services.identity.views import user_view
from services.runtime.errors import InvalidParams


async def login(identity: IdentityService, request: v1.Login) -> v1.LoginResult:
    ident = identity.any_ident(request.username, request.email, request.phone)
    if (request.password is None) == (request.code is None):
        raise InvalidParams("password", "give exactly one of password or code")
    if request.code is not None:
        return await _login_with_code(identity, ident, request)
    return await _login_with_password(identity, ident, request)


async def _login_with_password(
    identity: IdentityService, ident: domain.Identifier, request: v1.Login
) -> v1.LoginResult:
    attempt = await store.credentials.attempt(identity.pool, ident, identity.policy.failure_window)
    refusal = throttling.throttled(
        identity.policy, attempt["failures"], attempt["window_start"], attempt["now"]
    )
    if refusal is not None:
        raise refusal
    # Unknown user, user without a password, wrong password, an account throttled through
    # another of its identifiers: one verify each, one reply, nothing that links identifiers.
    stored = attempt["password_hash"]
    if attempt["account_failures"] is not None and throttling.over_limit(
        identity.policy,
        attempt["account_failures"],
        attempt["account_window_start"],
        attempt["now"],
    ):
        stored = None
    matches, new_hash = await identity.hasher.verify(request.password or "", stored)
    if not matches:
        raise domain.invalid_credentials()
    if new_hash is not None:
        await store.credentials.rehash(identity.pool, attempt["id"], stored, new_hash)
    return await gate.sign_in(
        identity,
        attempt,
        method=f"{ident.kind.value}_password",
        factors=frozenset({Factor.password}),
        client=request.client,
        remember=request.remember,
        clear_failures_of=(ident.throttle_key, attempt["account_key"]),
    )


async def _login_with_code(
    identity: IdentityService, ident: domain.Identifier, request: v1.Login
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
        user,
        method=f"{ident.kind.value}_code",
        factors=frozenset({Factor.code}),
        client=request.client,
        remember=request.remember,
    )


async def logout(identity: IdentityService, request: v1.Logout) -> v1.Done:
    async with identity.transaction() as con:
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
    return v1.Done()


async def authenticate(identity: IdentityService, request: v1.Authenticate) -> v1.Authenticated:
    row = await identity.current(request.token)
    return v1.Authenticated(user=user_view(row), expires_at=row["session_expires_at"])


async def is_authenticated(
    identity: IdentityService, request: v1.IsAuthenticated
) -> v1.AuthenticationState:
    alive = await store.sessions.session_alive(identity.pool, domain.token_digest(request.token))
    return v1.AuthenticationState(authenticated=alive)


async def get_user(identity: IdentityService, request: v1.GetUser) -> v1.UserResult:
    return v1.UserResult(user=user_view(await identity.current(request.token)))


async def refresh(identity: IdentityService, request: v1.Refresh) -> v1.Refreshed:
    if not identity.tokens.enabled:
        raise IdentityError(
            "access tokens are off (GATEHOUSE_ACCESS_TOKENS)", code=ErrorCode.invalid_operation
        )
    # Slides the session as `authenticate` does; revoked, expired or deleted: login_required.
    return gate.refresh(identity, await identity.current(request.token))


async def jwks(identity: IdentityService, request: v1.GetJwks) -> v1.Jwks:
    return identity.tokens.jwks()


async def auto_login(identity: IdentityService, request: v1.AutoLogin) -> v1.SignedIn:
    if not identity.policy.auto_login:
        raise IdentityError("auto-login is disabled", code=ErrorCode.invalid_operation)
    digest = domain.token_digest(request.remember_token)
    user = await store.sessions.remembered_user(identity.pool, digest)
    if user is None:
        raise domain.login_required()
    # The factors of the sign-in that issued the token: one from before two-factor login
    # applied to the account does not sign in again without a code.
    admission = await gate.admit_user(
        identity, user, method="remember_token", factors=gate.factors_of(user), client=None
    )
    if admission.owes_factor:
        raise IdentityError(
            "this account now asks for a second factor: sign in again",
            code=ErrorCode.login_required,
        )
    async with identity.transaction() as con:
        # Single use, and rotated: the reply carries its successor.
        if not await store.sessions.consume_remember_token(con, digest):
            raise domain.login_required()
        signed = await gate.enter(identity, con, user, admission, remember=True)
    return gate.signed_in(signed)
