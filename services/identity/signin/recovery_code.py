"""The second step of a two-factor sign-in with a recovery code (`verify_mfa` with
`factor: recovery_code`), for an owner whose authenticator app is lost: `otp` and `mfa` on top
of the factors the held-back sign-in proved, as for the app's code: a recovery code is a
one-time code the account was given, so the session records what one records.

Attempts count as the app's codes do (against the mfa token and the account's step-up bucket).
`redeem` spends the mfa token, then the code (a DELETE of its row) in the sign-in's
transaction, so one code opens one session even to two concurrent sign-ins, and tells the owner
(`user.recovery_code_used`, with how many are left)."""

from contracts.errors import ErrorCode
from contracts.events import v1 as events
from contracts.identity import v1
from gatehouse.errors import InvalidParams
from services.identity import reauth, recovery, store
from services.identity.domain import IdentityError
from services.identity.gate import Factor
from services.identity.service import IdentityService
from services.identity.signin import mfa
from services.identity.signin.mfa import SecondFactor
from services.identity.views import owner_of
from services.runtime.db import Connection


def code_invalid() -> IdentityError:
    return IdentityError("the recovery code is wrong or was used", code=ErrorCode.code_invalid)


async def prove(identity: IdentityService, request: v1.VerifyMfa) -> SecondFactor:
    if request.recovery_code is None:
        raise InvalidParams("recovery_code", "give a recovery code for factor recovery_code")
    row = await mfa.challenge(identity, request)
    digest = recovery.digest(identity.settings.recovery_code_key, row.id, request.recovery_code)
    async with reauth.counted(identity, row.id):
        if not await store.recovery_codes.exists(identity.pool, row.id, digest):
            raise code_invalid()
    return mfa.completed(
        row, request, "recovery_code", {Factor.code, Factor.second}, recovery_digest=digest
    )


async def redeem(identity: IdentityService, con: Connection, second: SecondFactor) -> None:
    await mfa.redeem(identity, con, second)
    user = second.proof.user
    assert second.recovery_digest is not None
    if not await store.recovery_codes.spend(con, user.id, second.recovery_digest):
        raise code_invalid()
    await identity.emit(
        con,
        events.user_recovery_code_used,
        events.UserRecoveryCodeUsed(
            user_id=user.public_id,
            remaining=await store.recovery_codes.remaining(con, user.id),
            owner=owner_of(user),
            client=second.proof.client,
        ),
        user.public_id,
    )
