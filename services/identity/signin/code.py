"""Sign in with a code (`login`): `otp`, a code sent to a contact the account verified."""

from contracts.identity import v1
from contracts.verification.v1 import Scenario
from gatehouse.errors import InvalidParams
from services.identity import domain, store
from services.identity.domain import Identifier, IdKind
from services.identity.gate import Factor, Proof
from services.identity.service import IdentityService


def accepts(request: v1.Login) -> bool:
    return request.code is not None


async def prove(identity: IdentityService, ident: Identifier, request: v1.Login) -> Proof:
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
    return Proof(
        user=user,
        method=f"{ident.kind.value}_code",
        factors=frozenset({Factor.code}),
        client=request.client,
    )
