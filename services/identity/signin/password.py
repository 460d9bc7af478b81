"""Sign in with a password (`login`): `pwd`, after the attempt is counted.

One statement finds the account and counts the attempt before any verify (see
`store.credentials.attempt`); unknown user, user without a password, wrong password, an account
throttled through another of its identifiers: one verify each, one reply, nothing that links
identifiers. The failures the sign-in clears go with the proof, cleared where the gate opens
the session."""

from datetime import datetime

from contracts.identity import v1
from services.identity import domain, store, throttling
from services.identity.domain import Identifier
from services.identity.gate import Factor, Proof
from services.identity.service import IdentityService
from services.identity.store.rows import User
from services.runtime import caller


def accepts(request: v1.Login) -> bool:
    return request.password is not None


async def prove(identity: IdentityService, ident: Identifier, request: v1.Login) -> Proof:
    client = identity.client_digest(request.client)
    spray = throttling.spray_keys(client, caller.get())
    attempt = await store.credentials.attempt(
        identity.pool,
        ident,
        identity.policy.failure_window,
        client,
        spray,
        identity.spray_limits.window,
    )
    buckets, now, user = attempt.buckets, attempt.now, attempt.user
    if attempt.familiar:
        # A client the owner proved a factor from: its own lane, and nothing else, counts.
        assert client is not None and user is not None
        keys: tuple[str, ...] = (throttling.lane_key(user.id, client),)
        refusal = throttling.throttled(identity.policy, *_counts(buckets[keys[0]]), now)
    else:
        keys = (ident.throttle_key, *_account_key(user))
        refusal = throttling.throttled(
            identity.policy, *_counts(buckets[ident.throttle_key]), now
        ) or throttling.spray_refusal(identity.spray_limits, buckets, now)
    if refusal is not None:
        raise refusal
    stored = attempt.password_hash
    account = buckets.get(store.rows.user_key(user.id)) if user else None
    if account is not None and throttling.over_limit(identity.policy, *_counts(account), now):
        stored = None
    matches, new_hash = await identity.hasher.verify(request.password or "", stored)
    if not matches:
        raise domain.invalid_credentials()
    assert user is not None and stored is not None, "only a stored hash matches"
    if not attempt.familiar:
        await store.credentials.refund(identity.pool, spray)
    if new_hash is not None:
        await store.credentials.rehash(identity.pool, user.id, stored, new_hash)
    return Proof(
        user=user,
        method=f"{ident.kind.value}_password",
        factors=frozenset({Factor.password}),
        client=request.client,
        clear_failures_of=keys,
    )


def _counts(bucket: throttling.Bucket) -> tuple[int, datetime]:
    return bucket.failures, bucket.window_start


def _account_key(user: User | None) -> tuple[str, ...]:
    return (store.rows.user_key(user.id),) if user is not None else ()
