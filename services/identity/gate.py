"""The one gate every session passes.

Each way to sign in is a strategy (`services.identity.signin`: password, code, remember
token, reset token, the mfa step) that proves factors and hands the gate a `Proof`; register
with `login: true` is admitted by `admit_registration()`. Every session, remember token and
mfa challenge is written here, and nowhere else (tests/unit/test_layering.py checks that no
other module calls the store functions that write them):

1. `admit()`: the account's standing first (a disabled account gets `account_disabled`, one
   that owes a new password `password_reset_required` unless this is the reset that sets it,
   see `services.identity.standing`); then the two-factor policy (a sign-in that owes a second
   factor gets an mfa challenge, and no hook runs for it yet); then the post-login hooks,
   whose deny stops it.
2. `enter()`, inside the flow's transaction: the standing again, under a row lock that an
   operator's disable waits for (so no session slips past a disable), the hooks' metadata,
   then the session (or the mfa challenge), with the factors the sign-in proved.

Admission talks to the network (hooks), so it happens before the flow's transaction opens;
entering writes only, so it is the last step of that transaction.

With `GATEHOUSE_ACCESS_TOKENS=jwt` every session the gate opens comes with an access token
(`services.identity.tokens`), and `refresh()` is the one place a live session gets another.

Factors are what a sign-in proved, kept with its session, its remember token and its mfa
challenge: `pwd` (the password), `otp` (a one-time password: a code sent to a contact, or one
of the account's authenticator app), `mfa` (the second factor of a two-factor sign-in), `reset`
(a mailed reset token). An account asks for a second factor when its owner turned two-factor
login on, or confirmed an authenticator app (under `GATEHOUSE_MFA=optional`; `required` asks
every account, `off` none). A code sign-in proves a contact the user
holds, so the two-factor policy accepts `otp` as well as `mfa`; a password or a reset token
alone never satisfies it. A remember token carries the factors of the sign-in that issued it.

Remember tokens form chains (`store.sessions.Chain`): the sign-in that proved the factors
starts one, each auto-login continues it with the chain's absolute end and proof time, so an
auto-login never makes a proof look recent (`services.identity.reauth` reads `proved_at`).
"""

import json
from dataclasses import dataclass
from enum import StrEnum

from contracts.events import v1 as events
from contracts.hooks import v1 as hooks
from contracts.identity import v1
from contracts.identity.v1 import LoginResult
from services.identity import domain, standing, store
from services.identity.hook_effects import Effects
from services.identity.service import IdentityService
from services.identity.settings import MfaPolicy
from services.identity.store.rows import ChallengedUser, RememberedUser, SessionUser, User
from services.identity.views import event, hook_user, user_view
from services.runtime.db import Connection
from services.runtime.work import UnitOfWork
from services.shared.contacts import mask


class Factor(StrEnum):
    password = "pwd"
    code = "otp"
    second = "mfa"
    reset = "reset"


Factors = frozenset[Factor]

# Either one satisfies the two-factor policy (see the module docstring).
SECOND_FACTORS = frozenset({Factor.code, Factor.second})


@dataclass(frozen=True)
class Proof:
    """What a sign-in strategy (`services.identity.signin`) proved: factors of `user`'s
    account, by `method` (as `user.logged_in` names it), from `client`. `clear_failures_of`:
    the throttling buckets whose failures start over once the session opens."""

    user: User
    method: str
    factors: Factors
    client: hooks.Client | None
    clear_failures_of: tuple[str, ...] = ()


@dataclass(frozen=True)
class Admission:
    """What the gate decided before the flow's transaction: the session may open (with the
    hooks' effects to apply), or a second factor is owed first."""

    method: str
    factors: Factors
    client: hooks.Client | None
    effects: Effects | None  # None: a second factor is owed; no hook ran
    clear_failures_of: tuple[str, ...] = ()

    @property
    def owes_factor(self) -> bool:
        return self.effects is None


def asks_second_factor(user: User) -> bool:
    """The account's own wish: two-factor login turned on, or an authenticator app confirmed."""
    return user.mfa_enabled or user.totp


def wants_second_factor(identity: IdentityService, asked: bool) -> bool:
    policy = identity.settings.mfa
    return policy is MfaPolicy.required or (policy is MfaPolicy.optional and asked)


def owes_factor(identity: IdentityService, asked: bool, factors: Factors) -> bool:
    return wants_second_factor(identity, asked) and not (factors & SECOND_FACTORS)


def mfa_contacts(identity: IdentityService, user: User) -> list[v1.MfaContact]:
    """Where a second factor may go: only contacts proven earlier (a code is never sent
    somewhere new), and an email only where the deployment requires its users to verify their
    email address (seed 003; `GATEHOUSE_MFA_EMAIL`)."""
    kinds = ("email", "phone") if identity.settings.mfa_email else ("phone",)
    contacts = [(kind, user.contact(kind)) for kind in kinds if user.verified(kind)]
    return [
        v1.MfaContact(id=kind, type=v1.ContactType(kind), masked=mask(value))
        for kind, value in contacts
        if value is not None
    ]


async def admit_registration(
    identity: IdentityService,
    user: hooks.HookUser,
    *,
    method: str,
    factors: Factors,
    client: hooks.Client | None,
) -> Admission:
    """Admit the sign-in of a registration: the user (as the hooks see it) is not written yet,
    has no standing of its own and no two-factor setting."""
    return await _admit(identity, user, False, method, factors, client, ())


async def _admit(
    identity: IdentityService,
    user: hooks.HookUser,
    asked: bool,
    method: str,
    factors: Factors,
    client: hooks.Client | None,
    clear_failures_of: tuple[str, ...],
) -> Admission:
    if owes_factor(identity, asked, factors):
        return Admission(method, factors, client, None, clear_failures_of)
    effects = await identity.hooks.run(hooks.Trigger.post_login, user, method=method, client=client)
    return Admission(method, factors, client, effects, clear_failures_of)


def check_standing(row: standing.HasStanding, factors: Factors) -> None:
    """The operators' word on the account: a reset sign-in (`reset`) is the one a required
    password reset lets through, since it has just set the new password."""
    standing.check(standing.Standing.of(row), resetting_password=Factor.reset in factors)


async def admit(identity: IdentityService, proof: Proof) -> Admission:
    """Admit what a strategy proved, before the flow's transaction (the hooks talk)."""
    check_standing(proof.user, proof.factors)
    return await _admit(
        identity,
        hook_user(proof.user),
        asks_second_factor(proof.user),
        proof.method,
        proof.factors,
        proof.client,
        proof.clear_failures_of,
    )


async def enter(
    identity: IdentityService,
    con: Connection,
    user: User,
    admission: Admission,
    *,
    remember: bool,
    chain: store.sessions.Chain | None = None,
) -> LoginResult:
    """Open the session admitted (or the mfa challenge owed), inside the flow's transaction.
    `chain`: the remember-token chain an auto-login continues (its proof time and end)."""
    # Read again under the lock: an operator may have disabled the account since admission.
    locked = await store.users.lock_standing(con, user.id)
    if locked is None:  # deleted meanwhile (deregistered, or by an operator)
        raise domain.login_required()
    check_standing(locked, admission.factors)
    if admission.effects is None:
        token = domain.new_token()
        await store.mfa.create_mfa_challenge(
            con,
            domain.token_digest(token),
            user.id,
            admission.method,
            remember,
            admission.client.model_dump(exclude_none=True) if admission.client else {},
            identity.mfa_token_ttl,
            sorted(admission.factors),
        )
        # The credential was right: the failed attempts start over.
        await store.credentials.clear_failures(con, list(admission.clear_failures_of))
        contacts = mfa_contacts(identity, user)
        return LoginResult(mfa_required=True, mfa_token=token, contacts=contacts, totp=user.totp)
    user = await identity.apply_effects(con, user, admission.effects)
    session_id, session, remember_token = await _open_session(
        identity, con, user, admission, remember, chain
    )
    result = LoginResult(user=user_view(user), session=session, remember_token=remember_token)
    if not identity.tokens.enabled:
        return result
    # Signing is CPU only: it belongs here, with the session it speaks for.
    minted = identity.tokens.mint(user, session_id, admission.factors)
    return result.model_copy(
        update={"access_token": minted.token, "access_token_expires_at": minted.expires_at}
    )


def refresh(identity: IdentityService, current: SessionUser) -> v1.Refreshed:
    """A new access token for a live session (`current`, as `IdentityService.current` found it: a
    deleted user has no session left, a disabled one's were revoked). The standing is checked
    here too, as for a sign-in: a disabled user gets no new token."""
    check_standing(current, factors_of(current))
    minted = identity.tokens.mint(current, current.session_id, factors_of(current))
    return v1.Refreshed(
        access_token=minted.token,
        access_token_expires_at=minted.expires_at,
        expires_at=current.session_expires_at,
    )


async def sign_in(
    identity: IdentityService, uow: UnitOfWork, proof: Proof, *, remember: bool
) -> LoginResult:
    """Admit, then enter in the flow's transaction and commit: for flows that write nothing
    else, and answer with the `LoginResult`."""
    admission = await admit(identity, proof)
    async with uow.transaction() as con:
        result = await enter(identity, con, proof.user, admission, remember=remember)
        return await uow.commit(result)


def signed_in(result: LoginResult) -> v1.SignedIn:
    """A version 1 `SignedIn` reply of a sign-in that the gate let in."""
    assert result.user is not None and result.session is not None
    return v1.SignedIn(
        user=result.user,
        session=result.session,
        remember_token=result.remember_token,
        access_token=result.access_token,
        access_token_expires_at=result.access_token_expires_at,
    )


def client_of(challenge: ChallengedUser) -> hooks.Client:
    return hooks.Client(**json.loads(challenge.client))


def factors_of(row: SessionUser | RememberedUser | ChallengedUser) -> Factors:
    return frozenset(Factor(f) for f in row.factors if f in Factor._value2member_map_)


async def _open_session(
    identity: IdentityService,
    con: Connection,
    user: User,
    admission: Admission,
    remember: bool,
    chain: store.sessions.Chain | None,
) -> tuple[str, v1.Session, str | None]:
    """Returns the session's public id, the session, and its remember token, if any. A session
    that continues a remember-token chain keeps the chain's proof time; any other proved its
    factors now, from a client that becomes the owner's own (see `throttling`)."""
    token = domain.new_token()
    session_id = domain.new_public_id("s")
    factors = sorted(admission.factors)
    remembers = identity.remembers(remember)
    chain_id = chain.id if chain else (domain.new_public_id("c") if remembers else None)
    signed_in = event(
        events.user_logged_in,
        events.UserLoggedIn(user_id=user.public_id, method=admission.method, session_id=session_id),
        user.public_id,
    )
    expires_at = await store.sessions.create_session(
        con,
        user.id,
        session_id,
        domain.token_digest(token),
        admission.method,
        identity.policy.session_ttl,
        identity.policy.session_absolute_ttl,
        signed_in,
        factors,
        list(admission.clear_failures_of),
        chain_id=chain_id,
        proved_at=chain.proved_at if chain else None,
        known_client=None if chain else identity.client_digest(admission.client),
        known_client_ttl=identity.known_client_ttl,
    )
    remember_token = None
    if remembers and chain_id is not None:
        remember_token = domain.new_token()
        await store.sessions.create_remember_token(
            con,
            user.id,
            domain.token_digest(remember_token),
            session_id,
            identity.policy.remember_ttl,
            factors,
            chain_id,
            chain,
            identity.remember_chain_ttl,
        )
    return session_id, v1.Session(token=token, expires_at=expires_at), remember_token
