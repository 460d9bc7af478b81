"""The second step of a two-factor sign-in (`verify_mfa`): `mfa`, a code sent to a contact
the account verified before, on top of the factors the held-back sign-in proved. The mfa
token is single use: `redeem` spends it in the sign-in's transaction."""

from dataclasses import dataclass

from contracts.errors import ErrorCode
from contracts.identity import v1
from contracts.verification import v1 as verification
from gatehouse.errors import InvalidParams
from services.identity import domain, gate, store
from services.identity.domain import IdentityError
from services.identity.gate import Factor, Proof, mfa_contacts
from services.identity.service import IdentityService
from services.identity.store.rows import ChallengedUser
from services.runtime.db import Connection


@dataclass(frozen=True)
class SecondFactor:
    proof: Proof
    digest: bytes
    remember: bool  # as the held-back sign-in asked
    step: int | None = None  # the authenticator app's time step to spend (`signin.totp`)
    recovery_digest: bytes | None = None  # the recovery code to spend (`signin.recovery_code`)


def token_invalid() -> IdentityError:
    return IdentityError(
        "the mfa token is invalid, expired or used; sign in again", code=ErrorCode.token_invalid
    )


def code_of(request: v1.VerifyMfa) -> str:
    """The 6-digit code a `code` or `totp` factor is proved with."""
    if request.code is None:
        raise InvalidParams("code", f"give the code for factor {request.factor}")
    return request.code


async def challenge(identity: IdentityService, request: v1.VerifyMfa) -> ChallengedUser:
    """The held-back sign-in of `request`'s mfa token, with this attempt counted against it
    (`GATEHOUSE_MFA_MAX_ATTEMPTS`, whatever the factor)."""
    digest = domain.token_digest(request.mfa_token)
    row = await store.mfa.mfa_challenge(identity.pool, digest)
    if row is None:
        raise token_invalid()
    # Counted before the code is checked: concurrent guesses cannot all slip in.
    attempts = await store.mfa.count_mfa_attempt(identity.pool, digest)
    if attempts is None:
        raise token_invalid()
    if attempts > identity.settings.mfa_max_attempts:
        # Not consumed here: every later attempt is over the limit too, and a concurrent
        # attempt still within it may be the one with the right code.
        raise IdentityError(
            "too many attempts for this mfa token; sign in again",
            code=ErrorCode.too_many_attempts,
        )
    return row


def completed(
    row: ChallengedUser,
    request: v1.VerifyMfa,
    method: str,
    proved: set[Factor],
    *,
    step: int | None = None,
    recovery_digest: bytes | None = None,
) -> SecondFactor:
    """The held-back sign-in of `row`, completed by `method`: the factors it proved before, and
    `proved`; what `redeem` spends travels along (`step`, `recovery_digest`)."""
    proof = Proof(
        user=row,
        method=method,
        factors=gate.factors_of(row) | proved,
        client=gate.client_of(row),
    )
    digest = domain.token_digest(request.mfa_token)
    return SecondFactor(proof, digest, row.remember, step, recovery_digest)


async def prove(identity: IdentityService, request: v1.VerifyMfa) -> SecondFactor:
    code = code_of(request)
    row = await challenge(identity, request)
    kind = row.contact_kind
    value = row.contact(kind) if kind is not None else None
    if kind is None or value is None or kind not in {c.id for c in mfa_contacts(identity, row)}:
        raise IdentityError("send a code first (send_mfa_code)", code=ErrorCode.invalid_operation)
    await identity.check_code(
        domain.Identifier(domain.IdKind(kind), value),
        verification.Scenario.two_factor,
        code,
    )
    return completed(row, request, "mfa", {Factor.second})


async def redeem(identity: IdentityService, con: Connection, second: SecondFactor) -> None:
    """Single use: of two concurrent verifications with one token, one gets the session."""
    if not await store.mfa.consume_mfa_challenge(con, second.digest):
        raise token_invalid()
