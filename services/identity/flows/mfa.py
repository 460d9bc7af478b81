"""Two-factor login (seed 003): a password login that owes a code gets an mfa token instead
of a session; the code goes only to a contact the user verified before."""

import json

import asyncpg

from contracts.errors import ErrorCode
from contracts.events.v1 import ContactType
from contracts.hooks.v1 import Client
from contracts.identity import v1
from contracts.verification import v1 as verification
from services.identity import domain, store
from services.identity.context import Identity, user_view
from services.identity.domain import IdentityError
from services.runtime.contacts import mask
from services.runtime.errors import InvalidParams
from services.runtime.settings import MfaPolicy

DEFAULT_CHANNEL = {"email": "email", "phone": "sms"}


def due(identity: Identity, user: asyncpg.Record) -> bool:
    policy = identity.settings.mfa
    return policy is MfaPolicy.required or (policy is MfaPolicy.optional and user["mfa_enabled"])


def verified_contacts(user: asyncpg.Record) -> list[v1.MfaContact]:
    """Only contacts proven earlier: 2FA never sends a code somewhere new."""
    return [
        v1.MfaContact(id=kind, type=ContactType(kind), masked=mask(user[kind]))
        for kind in ("email", "phone")
        if user[kind] is not None and user[f"{kind}_verified"]
    ]


def token_invalid() -> IdentityError:
    return IdentityError(
        "the mfa token is invalid, expired or used; sign in again", code=ErrorCode.token_invalid
    )


async def challenge(
    identity: Identity, user: asyncpg.Record, method: str, request: v1.Login
) -> v1.LoginResult:
    token = domain.new_token()
    async with identity.pool.acquire() as con, con.transaction():
        await store.create_mfa_challenge(
            con,
            domain.token_digest(token),
            user["id"],
            method,
            request.remember,
            request.client.model_dump(exclude_none=True) if request.client else {},
            identity.mfa_token_ttl,
        )
        # The password was right: the failed attempts of this account start over.
        await store.clear_failures(con, user["account_key"])
    return v1.LoginResult(mfa_required=True, mfa_token=token, contacts=verified_contacts(user))


async def send_mfa_code(identity: Identity, request: v1.SendMfaCode) -> v1.CodeSent:
    row = await store.mfa_challenge(identity.pool, domain.token_digest(request.mfa_token))
    if row is None:
        raise token_invalid()
    if request.contact_id not in {c.id for c in verified_contacts(row)}:
        raise InvalidParams("contact_id", "not a verified contact of this account")
    sent = await identity.rpc.result(
        verification.send_code,
        verification.SendCode(
            send_to=row[request.contact_id],
            scenario=verification.Scenario.two_factor,
            channel=request.channel or DEFAULT_CHANNEL[request.contact_id],
            locale=request.locale,
        ),
    )
    await store.set_mfa_contact(
        identity.pool, domain.token_digest(request.mfa_token), request.contact_id
    )
    return v1.CodeSent(expires_at=sent.expires_at, resend_after=sent.resend_after)  # type: ignore[attr-defined]


async def verify_mfa(identity: Identity, request: v1.VerifyMfa) -> v1.SignedIn:
    digest = domain.token_digest(request.mfa_token)
    row = await store.mfa_challenge(identity.pool, digest)
    if row is None:
        raise token_invalid()
    # Counted before the code is checked: concurrent guesses cannot all slip in.
    attempts = await store.count_mfa_attempt(identity.pool, digest)
    if attempts is None:
        raise token_invalid()
    if attempts > identity.settings.mfa_max_attempts:
        # Not consumed here: every later attempt is over the limit too, and a concurrent
        # attempt still within it may be the one with the right code.
        raise IdentityError(
            "too many attempts for this mfa token; sign in again",
            code=ErrorCode.too_many_attempts,
        )
    kind = row["contact"]
    if kind is None or kind not in {c.id for c in verified_contacts(row)}:
        raise IdentityError("send a code first (send_mfa_code)", code=ErrorCode.invalid_operation)
    await identity.check_code(
        domain.Identifier(domain.IdKind(kind), row[kind]),
        verification.Scenario.two_factor,
        request.code,
    )
    # Single use: of two concurrent verifications with one token, one gets the session.
    if not await store.consume_mfa_challenge(identity.pool, digest):
        raise token_invalid()
    return await identity.finish_login(
        row, "mfa", remember=row["remember"], client=Client(**json.loads(row["client"]))
    )


async def set_mfa(identity: Identity, request: v1.SetMfa) -> v1.UserResult:
    if identity.settings.mfa is not MfaPolicy.optional:
        raise IdentityError(
            f"two-factor login is {identity.settings.mfa.value} for every account",
            code=ErrorCode.invalid_operation,
        )
    current = await identity.current(request.token)
    if request.enabled and not verified_contacts(current):
        raise IdentityError(
            "verify an email or phone before turning on two-factor login",
            code=ErrorCode.invalid_operation,
        )
    user = await store.set_mfa(identity.pool, current["id"], request.enabled)
    return v1.UserResult(user=user_view(user))
