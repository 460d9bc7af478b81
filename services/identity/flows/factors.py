"""Second factors the user manages: an authenticator app (TOTP, RFC 6238).

`enroll_totp` makes a secret and returns it once, pending; `confirm_totp` takes a first code
of it (the app holds the secret), and from then on the account asks for a second factor at
each sign-in (`gate.asks_second_factor`: other sessions, which proved none, are revoked) and
the secret is never shown again; `remove_totp`
takes it away. Adding and removing take an account, so both ask for a step-up
(`services.identity.reauth`); a code given to confirm is counted against the account there too.

Recovery codes (`services.identity.recovery`) come with the first strong factor: the reply of
the `confirm_totp` that gives the account one carries them, once; `regenerate_recovery_codes`
(a step-up too: the codes take the account) replaces the whole set in one transaction, and
removing the last strong factor deletes them, since they stand in for it. `list_factors`
shows what the account has, never a secret: kinds, times, and how many codes are left.
"""

from contracts.errors import ErrorCode
from contracts.events import v1 as events
from contracts.identity import v1
from services.identity import authenticator, gate, reauth, recovery, store
from services.identity.domain import IdentityError
from services.identity.service import IdentityService
from services.identity.settings import MfaPolicy
from services.identity.signin import totp
from services.identity.store.rows import User
from services.identity.views import owner_of
from services.runtime.db import Connection
from services.runtime.work import UnitOfWork


async def enroll_totp(
    identity: IdentityService, uow: UnitOfWork, request: v1.EnrollTotp
) -> v1.TotpEnrolment:
    if identity.settings.mfa is MfaPolicy.off:
        raise IdentityError(
            "two-factor login is off for every account", code=ErrorCode.invalid_operation
        )
    current = await identity.current(request.token)
    await reauth.require(identity, current, request.password)
    secret = authenticator.new_secret()
    sealed = authenticator.seal(identity.settings.totp_seal_key, current.id, secret)
    async with uow.transaction() as con:
        if not await store.totp.save_pending(con, current.id, sealed):
            raise IdentityError(
                "an authenticator app is set up already; remove it first",
                code=ErrorCode.invalid_operation,
            )
        uri = authenticator.otpauth_uri(
            secret, _account_name(current), identity.settings.totp_issuer
        )
        return await uow.commit(v1.TotpEnrolment(secret=secret, otpauth_uri=uri))


async def confirm_totp(
    identity: IdentityService, uow: UnitOfWork, request: v1.ConfirmTotp
) -> v1.TotpConfirmed:
    current = await identity.current(request.token)
    found = await store.totp.authenticator(identity.pool, current.id)
    if found is None or found.confirmed_at is not None:
        raise _nothing_pending()
    async with reauth.counted(identity, current.id):
        secret = authenticator.unseal(
            identity.settings.totp_seal_key, current.id, found.secret_sealed
        )
        step = authenticator.matched_step(secret, request.code, identity.now())
        if step is None:
            raise totp.code_invalid()
    async with uow.transaction() as con:
        # The code's step is spent with it: the code that confirmed cannot also sign in.
        if not await store.totp.confirm(con, current.id, found.secret_sealed, step):
            raise _nothing_pending()  # confirmed, replaced or removed meanwhile
        revoked: list[str] = []
        if not gate.wants_second_factor(identity, gate.asks_second_factor(current)):
            # As turning two-factor login on (flows/mfa.py): what the account had open proved
            # no second factor; only the session that confirmed stays.
            await store.challenges.end_pending(con, current.id)
            revoked = await store.sessions.revoke_sessions(
                con, current.id, keep_session=current.session_id
            )
        codes = None
        if not await store.recovery_codes.remaining(con, current.id):
            codes = await _new_recovery_codes(identity, con, current.id)
        await identity.emit(
            con,
            events.user_factor_added,
            events.UserFactorAdded(
                user_id=current.public_id,
                factor="totp",
                revoked_session_ids=revoked,
                owner=owner_of(current),
                client=request.client,
            ),
            current.public_id,
        )
        return await uow.commit(v1.TotpConfirmed(recovery_codes=codes))


async def regenerate_recovery_codes(
    identity: IdentityService, uow: UnitOfWork, request: v1.RegenerateRecoveryCodes
) -> v1.NewRecoveryCodes:
    current = await identity.current(request.token)
    await reauth.require(identity, current, request.password)
    if not current.totp:
        raise IdentityError(
            "recovery codes stand in for an authenticator app; confirm one first",
            code=ErrorCode.invalid_operation,
        )
    async with uow.transaction() as con:
        codes = await _new_recovery_codes(identity, con, current.id)
        return await uow.commit(v1.NewRecoveryCodes(recovery_codes=codes))


async def list_factors(
    identity: IdentityService, uow: UnitOfWork, request: v1.ListFactors
) -> v1.FactorList:
    current = await identity.current(request.token)
    found = await store.totp.authenticator(identity.pool, current.id)
    factors = (
        []
        if found is None
        else [
            v1.FactorView(kind="totp", created_at=found.created_at, confirmed_at=found.confirmed_at)
        ]
    )
    remaining = await store.recovery_codes.remaining(identity.pool, current.id)
    return v1.FactorList(factors=factors, recovery_codes_remaining=remaining)


async def remove_totp(
    identity: IdentityService, uow: UnitOfWork, request: v1.RemoveTotp
) -> v1.Done:
    current = await identity.current(request.token)
    await reauth.require(identity, current, request.password)
    async with uow.transaction() as con:
        confirmed = await store.totp.remove(con, current.id)
        if confirmed is None:
            raise IdentityError(
                "this account has no authenticator app", code=ErrorCode.invalid_operation
            )
        if confirmed:  # a pending one never counted: nothing the owner must hear of
            # The app was the account's only strong factor: the codes that stood in for it go.
            await store.recovery_codes.remove_all(con, current.id)
            await identity.emit(
                con,
                events.user_factor_removed,
                events.UserFactorRemoved(
                    user_id=current.public_id,
                    factor="totp",
                    owner=owner_of(current),
                    client=request.client,
                ),
                current.public_id,
            )
        return await uow.commit(v1.Done())


async def _new_recovery_codes(
    identity: IdentityService, con: Connection, user_id: int
) -> list[str]:
    """A new set of codes for the user, every earlier one void; returned to be shown once."""
    codes = recovery.new_codes()
    key = identity.settings.recovery_code_key
    await store.recovery_codes.replace(
        con, user_id, [recovery.digest(key, user_id, code) for code in codes]
    )
    return codes


def _nothing_pending() -> IdentityError:
    return IdentityError(
        "no authenticator app waits for a first code; enroll_totp first",
        code=ErrorCode.invalid_operation,
    )


def _account_name(user: User) -> str:
    """What the app shows the account as: the name the user signs in with."""
    return user.username or user.email or user.phone or user.public_id
