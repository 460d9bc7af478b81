"""Verify contact (seed 003): send a `verify_contact` code to the bound or a new email or
phone, then confirm it. One pending contact per user: starting again with another number
voids the earlier one (its code no longer confirms anything). Confirming takes the contact
from an account that only claimed it (services/identity/claims.py)."""

from functools import partial

from contracts.errors import ErrorCode
from contracts.events import v1 as events
from contracts.identity import v1
from contracts.verification import v1 as verification
from gatehouse._recipients import default_channel
from services.identity import claims, reauth, store
from services.identity.domain import Identifier, IdentityError, IdKind
from services.identity.service import IdentityService
from services.identity.views import user_view
from services.runtime.db import one
from services.runtime.work import UnitOfWork
from services.shared.contacts import normalize_email, normalize_phone


def _normalized(identity: IdentityService, request: v1.StartContactVerification) -> Identifier:
    if request.type is events.ContactType.email:
        return Identifier(IdKind.email, normalize_email(request.contact, "contact"))
    return Identifier(IdKind.phone, normalize_phone(request.contact, "contact", identity.region))


async def start_contact_verification(
    identity: IdentityService, uow: UnitOfWork, request: v1.StartContactVerification
) -> v1.CodeSent:
    ident = _normalized(identity, request)
    current = await identity.current(request.token)
    # A new contact will replace the bound one: that takes a recent sign-in.
    new = current.contact(ident.kind.value) != ident.value
    await reauth.require(identity, current, request.password, needed=new)
    # A courtesy (no code spent on a contact that cannot be bound); the unique index decides.
    # Only a verified holder keeps it: confirming takes it from one that merely claimed it.
    owner = await store.users.find_proven(identity.pool, ident)
    if owner is not None and owner.id != current.id:
        raise IdentityError("this contact is already in use", code=ErrorCode.contact_taken)
    # Sent first: a refused send (cooldown) leaves the pending contact as it was.
    sent = await identity.rpc.result(
        verification.send_code,
        verification.SendCode(
            send_to=ident.value,
            scenario=verification.Scenario.verify_contact,
            channel=request.channel or default_channel(ident.kind.value),
            locale=request.locale,
        ),
    )
    async with uow.transaction() as con:
        await store.contacts.start_contact_verification(
            con, current.id, ident.kind.value, ident.value
        )
        return await uow.commit(
            v1.CodeSent(expires_at=sent.expires_at, resend_after=sent.resend_after)
        )


async def confirm_contact(
    identity: IdentityService, uow: UnitOfWork, request: v1.ConfirmContact
) -> v1.UserResult:
    current = await identity.current(request.token)
    pending = await store.contacts.pending_contact(identity.pool, current.id)
    if pending is None:
        raise IdentityError("no contact verification is in progress", code=ErrorCode.not_found)
    ident = Identifier(IdKind(pending.kind), pending.value)
    new = current.contact(ident.kind.value) != ident.value
    await reauth.require(identity, current, request.password, needed=new)
    await identity.check_code(ident, verification.Scenario.verify_contact, request.code)
    kind = events.ContactType(ident.kind.value)
    async with uow.transaction() as con:
        before = await store.users.lock_user(con, current.id)
        if not await store.contacts.finish_contact_verification(
            con, current.id, ident.kind.value, ident.value
        ):
            raise IdentityError("the contact verification was replaced", code=ErrorCode.not_found)
        bind = partial(store.users.set_contact, con, current.id, ident.kind, ident.value)
        with store.rows.unique_violations(contact_taken=True):
            user = await claims.prove(identity, con, ident, current.id, bind)
        await store.challenges.end_pending(con, current.id)
        subject = user.public_id
        # The user row exists: its pending contact was still there to finish.
        if one(before).contact(ident.kind.value) != ident.value:
            await identity.emit_contact_bound(con, one(before), user, kind, request.client)
        await identity.emit(
            con,
            events.user_contact_verified,
            events.UserContactVerified(
                user_id=subject, contact=events.Contact(type=kind, value=ident.value)
            ),
            subject,
        )
        return await uow.commit(v1.UserResult(user=user_view(user)))
