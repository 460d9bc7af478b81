"""Sign in with a mailed reset token (`reset_password_with_token`): `reset`, which proves a
mailbox, never a second factor; the gate asks for one where the account owes it, whatever
the address the token went to. Single use: `redeem` spends it in the reset's transaction."""

from dataclasses import dataclass

from contracts.errors import ErrorCode
from contracts.identity import v1
from services.identity import domain, store
from services.identity.domain import Identifier, IdentityError
from services.identity.gate import Factor, Proof
from services.identity.service import IdentityService
from services.runtime.db import Connection


@dataclass(frozen=True)
class ResetToken:
    proof: Proof
    digest: bytes


def invalid() -> IdentityError:
    return IdentityError(
        "the password reset token is invalid or expired", code=ErrorCode.token_invalid
    )


async def prove(
    identity: IdentityService, ident: Identifier, request: v1.ResetPasswordWithToken
) -> ResetToken:
    digest = domain.token_digest(request.token)
    user = await store.users.find_proven(identity.pool, ident)
    if user is None or not await store.resets.reset_token_alive(identity.pool, user.id, digest):
        raise invalid()
    proof = Proof(
        user=user,
        method="password_reset",
        factors=frozenset({Factor.reset}),
        client=request.client,
    )
    return ResetToken(proof, digest)


async def redeem(con: Connection, token: ResetToken) -> None:
    if not await store.resets.consume_reset_token(con, token.proof.user.id, token.digest):
        raise invalid()
