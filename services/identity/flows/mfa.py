"""Two-factor login (seed 003): a sign-in that owes a second factor gets an mfa token instead
of a session (see `services.identity.gate`); the code goes only to a contact the user verified
before, and `verify_mfa` passes the gate again with the factor proven: that code, or one of the
account's authenticator app (`factor: totp`), or a recovery code (`factor: recovery_code`), each
proved by its strategy in
`services.identity.signin`."""

from contracts.errors import ErrorCode
from contracts.events import v1 as events
from contracts.identity import v1
from contracts.verification import v1 as verification
from gatehouse._recipients import default_channel
from gatehouse.errors import InvalidParams
from services.identity import domain, gate, reauth, signin, store
from services.identity.domain import IdentityError
from services.identity.gate import mfa_contacts
from services.identity.service import IdentityService
from services.identity.settings import MfaPolicy
from services.identity.signin import mfa
from services.identity.views import owner_of, user_view
from services.runtime.work import UnitOfWork


async def send_mfa_code(
    identity: IdentityService, uow: UnitOfWork, request: v1.SendMfaCode
) -> v1.CodeSent:
    digest = domain.token_digest(request.mfa_token)
    row = await store.mfa.mfa_challenge(identity.pool, digest)
    if row is None:
        raise mfa.token_invalid()
    if request.contact_id not in {c.id for c in mfa_contacts(identity, row)}:
        raise InvalidParams("contact_id", "not a second-factor contact of this account")
    sent = await identity.rpc.result(
        verification.issue_code,  # the second factor: only identity may send one
        verification.SendCode(
            send_to=row.contact(request.contact_id),
            scenario=verification.Scenario.two_factor,
            channel=request.channel or default_channel(request.contact_id),
            locale=request.locale,
        ),
    )
    async with uow.transaction() as con:
        await store.mfa.set_mfa_contact(con, digest, request.contact_id)
        return await uow.commit(
            v1.CodeSent(expires_at=sent.expires_at, resend_after=sent.resend_after)
        )


async def verify_mfa(
    identity: IdentityService, uow: UnitOfWork, request: v1.VerifyMfa
) -> v1.SignedIn:
    strategy = signin.SECOND[request.factor]
    second = await strategy.prove(identity, request)
    admission = await gate.admit(identity, second.proof)
    async with uow.transaction() as con:
        await strategy.redeem(identity, con, second)
        signed = await gate.enter(
            identity, con, second.proof.user, admission, remember=second.remember
        )
        return await uow.commit(gate.signed_in(signed))


async def set_mfa(identity: IdentityService, uow: UnitOfWork, request: v1.SetMfa) -> v1.UserResult:
    if identity.settings.mfa is not MfaPolicy.optional:
        raise IdentityError(
            f"two-factor login is {identity.settings.mfa.value} for every account",
            code=ErrorCode.invalid_operation,
        )
    current = await identity.current(request.token)
    turning_off = not request.enabled and current.mfa_enabled
    await reauth.require(identity, current, request.password, needed=turning_off)
    if request.enabled and not mfa_contacts(identity, current):
        # Else the account's own password could no longer sign it in.
        wanted = "an email or phone" if identity.settings.mfa_email else "a phone"
        raise IdentityError(
            f"verify {wanted} before turning on two-factor login",
            code=ErrorCode.invalid_operation,
        )
    async with uow.transaction() as con:
        user = await store.mfa.set_mfa(con, current.id, request.enabled)
        if request.enabled == current.mfa_enabled:
            return await uow.commit(v1.UserResult(user=user_view(user)))
        # A sign-in waiting for its code, or a reset token, was issued under the old setting.
        await store.challenges.end_pending(con, current.id)
        revoked: list[str] = []
        if request.enabled:
            # Sessions and remember tokens from before proved no second factor: only the
            # session that turned it on stays (its own remember tokens will ask for a code).
            revoked = await store.sessions.revoke_sessions(
                con, current.id, keep_session=current.session_id
            )
        await identity.emit(
            con,
            events.user_mfa_changed,
            events.UserMfaChanged(
                user_id=user.public_id,
                enabled=request.enabled,
                revoked_session_ids=revoked,
                owner=owner_of(user),
                client=request.client,
            ),
            user.public_id,
        )
        return await uow.commit(v1.UserResult(user=user_view(user)))
