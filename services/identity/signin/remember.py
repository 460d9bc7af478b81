"""Sign in again with a remember token (`auto_login`): the factors of the sign-in that issued
it, never a recent proof (the chain keeps its proof time, see `services.identity.gate`).

Single use and rotated: `redeem` spends the token in the sign-in's transaction, and the session
the gate opens continues its chain with a successor. A used token that comes back means one of
its two holders is a thief: `revoke_chain` ends the chain and tells the owner."""

from dataclasses import dataclass

from contracts.errors import ErrorCode
from contracts.events import v1 as events
from contracts.hooks.v1 import Client
from contracts.identity import v1
from services.identity import domain, gate, store
from services.identity.domain import IdentityError
from services.identity.gate import Proof
from services.identity.service import IdentityService
from services.identity.store.rows import RememberedUser
from services.identity.views import owner_of
from services.runtime.db import Connection


@dataclass(frozen=True)
class Remembered:
    user: RememberedUser
    proof: Proof
    digest: bytes
    chain: store.sessions.Chain


class Reused(Exception):
    """The remember token was used by a concurrent auto-login that committed first."""


async def prove(identity: IdentityService, request: v1.AutoLogin) -> Remembered:
    if not identity.policy.auto_login:
        raise IdentityError("auto-login is disabled", code=ErrorCode.invalid_operation)
    digest = domain.token_digest(request.remember_token)
    user = await store.sessions.remembered_user(identity.pool, digest)
    if user is None:
        raise domain.login_required()
    if user.consumed:
        await revoke_chain(identity, user, request.client)
        raise domain.login_required()
    if user.chain_ended:
        raise IdentityError(
            "this remember token's chain has ended: sign in again", code=ErrorCode.login_required
        )
    # The factors of the sign-in that issued the token: one from before two-factor login
    # applied to the account does not sign in again without a code.
    proof = Proof(
        user=user,
        method="remember_token",
        factors=gate.factors_of(user),
        client=request.client,
    )
    return Remembered(user, proof, digest, store.sessions.chain_of(user))


async def redeem(con: Connection, remembered: Remembered) -> None:
    """Spend the token in the sign-in's transaction; `Reused` when a concurrent auto-login with
    the same token won."""
    outcome = await store.sessions.consume_remember_token(con, remembered.digest)
    if outcome == "reused":
        raise Reused
    if outcome == "gone":
        raise domain.login_required()


async def revoke_chain(
    identity: IdentityService, user: RememberedUser, client: Client | None
) -> None:
    """The chain and every session it issued go, and the owner is told. In a transaction of
    its own: the refusal that follows rolls the command's back, and this must stay. Called with
    no transaction of the command open, so that it never holds two pool connections."""
    async with identity.pool.acquire() as con, con.transaction():
        revoked = await store.sessions.revoke_chain(con, user.chain_id)
        if revoked is None:  # revoked already (a concurrent replay): told once
            return
        await identity.emit(
            con,
            events.user_remember_token_reused,
            events.UserRememberTokenReused(
                user_id=user.public_id,
                revoked_session_ids=revoked,
                owner=owner_of(user),
                client=client,
            ),
            user.public_id,
        )
    identity.log.warning("a used remember token was presented again: its chain is revoked")
