"""Reset (code or mailed token) and change a password. Each revokes the other sessions."""

from collections.abc import Callable
from typing import Literal, TypeVar

from contracts.errors import ErrorCode
from contracts.events import v1 as events
from contracts.hooks.v1 import Client
from contracts.identity import v1
from contracts.verification.v1 import Scenario
from services.identity import domain, gate, reauth, reset_destinations, store, throttling
from services.identity.domain import IdentityError
from services.identity.service import IdentityService
from services.identity.signin import reset_token
from services.identity.store.rows import User
from services.identity.views import owner_of
from services.runtime.db import Connection
from services.runtime.work import UnitOfWork

R = TypeVar("R")


async def reset_password(
    identity: IdentityService, uow: UnitOfWork, request: v1.ResetPassword
) -> v1.Done:
    ident = identity.contact_ident(request.email, request.phone)
    domain.check_password(request.new_password, identity.policy, "new_password")
    await identity.check_code(ident, Scenario.reset_password, request.code)
    new_hash = await identity.hasher.hash(request.new_password)
    async with uow.transaction() as con:
        user = await store.users.find_proven(con, ident)
        if user is None:
            # Only the owner of the contact gets here (the code proved it), so saying so
            # tells nobody else anything. An account that merely claimed it is no account.
            raise IdentityError(
                f"no account uses this {ident.kind.value}", code=ErrorCode.not_found
            )
        await _reset(identity, con, user, new_hash, "code", request.client)
        return await uow.commit(v1.Done())


async def change_password(
    identity: IdentityService, uow: UnitOfWork, request: v1.ChangePassword
) -> v1.Done:
    domain.check_password(request.new_password, identity.policy, "new_password")
    current = await identity.current(request.token)
    verified_hash = await reauth.check_password(identity, current.id, request.old_password)
    new_hash = await identity.hasher.hash(request.new_password)
    async with uow.transaction() as con:
        # Set only over the hash the old password matched: of concurrent changes made with
        # the same old password exactly one lands; the others' old password is no longer right.
        if not await store.credentials.replace_password(con, current.id, verified_hash, new_hash):
            raise domain.invalid_credentials()
        await store.challenges.end_pending(con, current.id)
        revoked = await store.sessions.revoke_sessions(
            con, current.id, keep_session=current.session_id
        )
        await identity.emit(
            con,
            events.user_password_changed,
            events.UserPasswordChanged(
                user_id=current.public_id,
                revoked_session_ids=revoked,
                owner=owner_of(current),
                client=request.client,
            ),
            current.public_id,
        )
        return await uow.commit(v1.Done())


async def _reset(
    identity: IdentityService,
    con: Connection,
    user: User,
    new_hash: str,
    method: Literal["code", "token"],
    client: Client | None,
) -> None:
    """A reset, by code or by mailed token: every session goes, `user.password_reset` says how."""
    await store.credentials.set_password(con, user.id, new_hash)
    await store.challenges.end_pending(con, user.id)
    revoked = await store.sessions.revoke_sessions(con, user.id)
    await identity.emit(
        con,
        events.user_password_reset,
        events.UserPasswordReset(
            user_id=user.public_id,
            method=method,
            revoked_session_ids=revoked,
            all_sessions_revoked=True,
            owner=owner_of(user),
            client=client,
        ),
        user.public_id,
    )


async def send_password_reset_token(
    identity: IdentityService, uow: UnitOfWork, request: v1.SendPasswordResetToken
) -> v1.Done:
    """The same reply, after the same single statement, whether or not the user exists (and
    with a `token`, the same look-up of the session before it): the request is counted and
    queued here, and `services.identity.reset_mail` looks the user up,
    makes the token and hands the mail to the outbox off the reply path."""
    ident = identity.any_ident(request.username, request.email, request.phone)
    settings = identity.settings
    reset_destinations.check(
        request.template_name,
        request.email_property_name,
        templates=settings.reset_templates,
        properties=settings.reset_properties,
    )
    # Seed 004: error 13 for a signed-in user. The session alone decides, never the account
    # named: a request with a token costs one more look-up, the same for every identifier.
    if request.token is not None and await store.sessions.session_alive(
        identity.pool, domain.token_digest(request.token)
    ):
        raise IdentityError(
            "the user is signed in: change the password with change_password, or sign out first",
            code=ErrorCode.invalid_operation,
            signed_in=True,
        )
    async with uow.transaction() as con:
        row = await store.resets.queue_reset_request(
            con,
            ident,
            throttling.RESET_REQUEST_WINDOW,
            settings.reset_mail_cap_per_identifier,
            request.template_name,
            request.email_property_name,
        )
        refusal = throttling.reset_throttled(
            settings.reset_mail_cap_per_identifier,
            throttling.RESET_REQUEST_WINDOW,
            row.requests,
            row.window_start,
            row.now,
        )
        if refusal is not None:
            raise refusal
        return await uow.commit(v1.Done())


async def reset_password_with_token(
    identity: IdentityService, uow: UnitOfWork, request: v1.ResetPasswordWithToken
) -> v1.SignedIn:
    """Version 1: a session, or nothing at all for an account that owes a second factor."""
    return await _reset_with_token(identity, uow, request, gate.signed_in, may_challenge=False)


async def reset_password_with_token_v2(
    identity: IdentityService, uow: UnitOfWork, request: v1.ResetPasswordWithToken
) -> v1.LoginResult:
    return await _reset_with_token(identity, uow, request, _as_is, may_challenge=True)


async def _reset_with_token(
    identity: IdentityService,
    uow: UnitOfWork,
    request: v1.ResetPasswordWithToken,
    reply: Callable[[v1.LoginResult], R],
    *,
    may_challenge: bool,
) -> R:
    """`reply`: the version's reply to the sign-in the gate let in."""
    ident = identity.any_ident(request.username, request.email, request.phone)
    domain.check_password(request.new_password, identity.policy, "new_password")
    token = await reset_token.prove(identity, ident, request)
    admission = await gate.admit(identity, token.proof)
    if admission.owes_factor and not may_challenge:
        raise IdentityError(
            "this account signs in with a second factor; reset with"
            " identity.reset_password_with_token.v2, which asks for it",
            code=ErrorCode.invalid_operation,
        )
    new_hash = await identity.hasher.hash(request.new_password)
    async with uow.transaction() as con:
        await reset_token.redeem(con, token)
        user = token.proof.user
        await _reset(identity, con, user, new_hash, "token", request.client)
        signed = await gate.enter(identity, con, user, admission, remember=False)
        return await uow.commit(reply(signed))


def _as_is(result: v1.LoginResult) -> v1.LoginResult:
    return result
