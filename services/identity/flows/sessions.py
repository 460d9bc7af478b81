"""Sign in and out: login, logout, authenticate, is_authenticated, auto_login, get_user, and
the access tokens' refresh and jwks."""

from contracts.errors import ErrorCode
from contracts.events import v1 as events
from contracts.identity import v1
from services.identity import domain, gate, signin, store
from services.identity.domain import IdentityError
from services.identity.service import IdentityService
from services.identity.signin import remember
from services.identity.views import user_view
from services.runtime.work import UnitOfWork


async def login(identity: IdentityService, uow: UnitOfWork, request: v1.Login) -> v1.LoginResult:
    ident = identity.any_ident(request.username, request.email, request.phone)
    proof = await signin.for_login(request).prove(identity, ident, request)
    return await gate.sign_in(identity, uow, proof, remember=request.remember)


async def logout(identity: IdentityService, uow: UnitOfWork, request: v1.Logout) -> v1.Done:
    async with uow.transaction() as con:
        row = await store.sessions.delete_session(con, domain.token_digest(request.token))
        if row is None:
            raise domain.login_required()
        await identity.emit(
            con,
            events.user_logged_out,
            events.UserLoggedOut(
                user_id=row.user_public_id,
                session_id=row.session_id,
                revoked_session_ids=[row.session_id],
            ),
            row.user_public_id,
        )
        return await uow.commit(v1.Done())


async def authenticate(
    identity: IdentityService, uow: UnitOfWork, request: v1.Authenticate
) -> v1.Authenticated:
    row = await identity.current(request.token)
    return v1.Authenticated(user=user_view(row), expires_at=row.session_expires_at)


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
    remembered = await remember.prove(identity, request)
    admission = await gate.admit(identity, remembered.proof)
    if admission.owes_factor:
        raise IdentityError(
            "this account now asks for a second factor: sign in again",
            code=ErrorCode.login_required,
        )
    user = remembered.user
    try:
        async with uow.transaction() as con:
            # Single use, and rotated: the reply carries its successor, in the same chain.
            await remember.redeem(con, remembered)
            signed = await gate.enter(
                identity, con, user, admission, remember=True, chain=remembered.chain
            )
            return await uow.commit(gate.signed_in(signed))
    except remember.Reused:
        # Leaving the block rolled the command's transaction back and gave its connection
        # back: the revocation takes one of its own without holding two.
        await remember.revoke_chain(identity, user, request.client)
        raise domain.login_required() from None
