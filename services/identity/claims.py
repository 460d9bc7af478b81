"""A contact counts once proved.

An email or phone stored without a code (`register` with a password only, or the second
contact of a registration whose code proved the first) is a claim. It names its account for a
password sign-in, and for nothing else: code sign-in, code reset, the reset mail, two-factor
codes and security notices go only to verified contacts (`store.users.find_proven`,
`gate.mfa_contacts`, `reset_destinations.address`, `services.notifier.notices`).

A claim never blocks whoever proves the contact. `register` with a code, `bind_contact` and
`confirm_contact` write the contact through `prove()`, which takes it from the account that
only claimed it in the same transaction. That account gets `user.contact_unbound.v1`
(`verified: false`, and no `client`: where the prover signed in from is none of its business)
and its pending challenges end. It keeps its other identifiers. One left with none is marked
`released_at` and keeps its id, data, password and open sessions, but no sign-in can name it
any more: only an operator can help its owner. Never the reverse: a claim never beats a proof.

A code login to a contact that no account holds verified answers like an unknown contact and
changes nothing: whoever proves it registers with the code, or signs in otherwise and confirms
it (`start_contact_verification`).
"""

from collections.abc import Awaitable, Callable

import asyncpg

from contracts.events import v1 as events
from services.identity import store
from services.identity.domain import Identifier
from services.identity.service import IdentityService
from services.identity.store.rows import User
from services.identity.views import owner_of
from services.runtime.db import Connection


async def prove(
    identity: IdentityService,
    con: Connection,
    ident: Identifier,
    winner_id: int | None,
    write: Callable[[], Awaitable[User]],
) -> User:
    """Write a contact a code just proved (`write`: the insert or update that stores it
    verified, returning the user), taking it from an account that only claimed it. A holder
    that verified it stays: `write` then meets the unique index (`*_taken`)."""
    released = await store.contacts.release_claim(con, ident.kind, ident.value, winner_id)
    try:
        async with con.transaction():  # a savepoint: the flow's transaction survives
            written = await write()
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name != f"users_{ident.kind.value}_key":
            raise
        # A claim committed after the release looked (it could not see it yet): once more.
        released += await store.contacts.release_claim(con, ident.kind, ident.value, winner_id)
        written = await write()
    for loser in released:
        await _lost(identity, con, loser, ident)
    return written


async def _lost(identity: IdentityService, con: Connection, loser: User, ident: Identifier) -> None:
    await store.challenges.end_pending(con, loser.id)
    subject = loser.public_id
    unbound = events.UserContactUnbound(
        user_id=subject,
        contact=events.Contact(type=events.ContactType(ident.kind.value), value=ident.value),
        verified=False,
        owner=owner_of(loser),
        client=None,
    )
    await identity.emit(con, events.user_contact_unbound, unbound, subject)
    if loser.username is None and loser.email is None and loser.phone is None:
        identity.log.warning(
            "account %s lost its last identifier to a proved %s: only an operator can help",
            subject,
            ident.kind.value,
        )
