"""Bind and unbind an email or phone, each proven by a code sent to it. A bound contact is
verified, and taken from an account that only claimed it (services/identity/claims.py)."""

from functools import partial

from contracts.events import v1 as events
from contracts.identity import v1
from contracts.verification.v1 import Scenario
from services.identity import claims, domain, reauth, store
from services.identity.domain import AccountShape, Identifier, IdKind
from services.identity.service import IdentityService
from services.identity.store.rows import User
from services.identity.views import owner_of, user_view
from services.runtime.work import UnitOfWork


async def bind_contact(
    identity: IdentityService, uow: UnitOfWork, request: v1.BindContact
) -> v1.UserResult:
    ident = identity.contact_ident(request.email, request.phone)
    current = await identity.current(request.token)
    await reauth.require(identity, current, request.password)
    await identity.check_code(ident, Scenario.bind, request.code)
    kind = events.ContactType(ident.kind.value)
    async with uow.transaction() as con:
        before = await store.users.lock_user(con, current.id)
        if before is None:
            raise domain.login_required()
        bind = partial(store.users.set_contact, con, current.id, ident.kind, ident.value)
        with store.rows.unique_violations(contact_taken=True):
            user = await claims.prove(identity, con, ident, current.id, bind)
        await store.challenges.end_pending(con, current.id)
        await identity.emit_contact_bound(con, before, user, kind, request.client)
        return await uow.commit(v1.UserResult(user=user_view(user)))


async def unbind_contact(
    identity: IdentityService, uow: UnitOfWork, request: v1.UnbindContact
) -> v1.UserResult:
    current = await identity.current(request.token)
    await reauth.require(identity, current, request.password)
    kind = IdKind(request.contact_type.value)
    value = current.contact(kind.value)
    domain.check_unbind(_shape(current, has_password=True), kind)  # fail fast, before the code
    assert value is not None, "check_unbind refuses a contact the account does not have"
    await identity.check_code(Identifier(kind, value), Scenario.unbind, request.code)
    async with uow.transaction() as con:
        before = await store.users.lock_user(con, current.id)
        if before is None:
            raise domain.login_required()
        # Re-checked under the row lock: a concurrent unbind of the other contact may have run.
        domain.check_unbind(_shape(before, before.password_hash is not None), kind)
        user = await store.users.set_contact(con, current.id, kind, None)
        await store.challenges.end_pending(con, current.id)
        await identity.emit(
            con,
            events.user_contact_unbound,
            events.UserContactUnbound(
                user_id=user.public_id,
                contact=events.Contact(
                    type=events.ContactType(kind.value), value=before.contact(kind.value)
                ),
                verified=before.verified(kind.value),
                owner=owner_of(user),
                client=request.client,
            ),
            user.public_id,
        )
        return await uow.commit(v1.UserResult(user=user_view(user)))


def _shape(row: User, has_password: bool) -> AccountShape:
    return AccountShape(
        username=row.username is not None,
        email=row.email is not None,
        phone=row.phone is not None,
        password=has_password,
    )
