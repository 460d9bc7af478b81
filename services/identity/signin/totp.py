"""The second step of a two-factor sign-in with an authenticator app (`verify_mfa` with
`factor: totp`): `otp` and `mfa` on top of the factors the held-back sign-in proved.

Attempts count against the mfa token (as a sent code's do) and against the account (the
step-up bucket, `reauth.counted`): an attacker who holds the password cannot start sign-in
after sign-in to guess without limit. `redeem` spends the mfa token and the code's time step
in the sign-in's transaction: a code is accepted once, even by two concurrent sign-ins."""

from contracts.errors import ErrorCode
from contracts.identity import v1
from services.identity import authenticator, reauth, store
from services.identity.domain import IdentityError
from services.identity.gate import Factor
from services.identity.service import IdentityService
from services.identity.signin import mfa
from services.identity.signin.mfa import SecondFactor
from services.runtime.db import Connection


def code_invalid() -> IdentityError:
    return IdentityError("the authenticator code is wrong or was used", code=ErrorCode.code_invalid)


def no_authenticator() -> IdentityError:
    return IdentityError(
        "this account has no authenticator app; use a code (send_mfa_code)",
        code=ErrorCode.invalid_operation,
    )


async def prove(identity: IdentityService, request: v1.VerifyMfa) -> SecondFactor:
    code = mfa.code_of(request)
    row = await mfa.challenge(identity, request)
    found = await store.totp.authenticator(identity.pool, row.id)
    if found is None or found.confirmed_at is None:
        raise no_authenticator()
    async with reauth.counted(identity, row.id):
        secret = authenticator.unseal(identity.settings.totp_seal_key, row.id, found.secret_sealed)
        step = authenticator.matched_step(secret, code, identity.now())
        if step is None:
            raise code_invalid()
    return mfa.completed(row, request, "totp", {Factor.code, Factor.second}, step=step)


async def redeem(identity: IdentityService, con: Connection, second: SecondFactor) -> None:
    """The mfa token, then the time step: compare-and-set, so a code replayed by another
    sign-in (its own mfa token) loses too."""
    await mfa.redeem(identity, con, second)
    assert second.step is not None
    if not await store.totp.accept_step(con, second.proof.user.id, second.step):
        raise code_invalid()
