"""Deregister and properties."""

from typing import Any

from contracts.events import v1 as events
from contracts.identity import v1
from contracts.verification.v1 import Scenario
from gatehouse.errors import InvalidParams
from services.identity import domain, reauth, store
from services.identity.domain import Identifier, IdKind
from services.identity.service import IdentityService
from services.identity.store.rows import User
from services.runtime.db import one
from services.runtime.work import UnitOfWork


async def deregister(identity: IdentityService, uow: UnitOfWork, request: v1.Deregister) -> v1.Done:
    if (request.password is None) == (request.code is None):
        raise InvalidParams("password", "give exactly one of password or code")
    current = await identity.current(request.token)
    # The password or code is the step-up (services.identity.reauth), counted per account.
    if request.code is not None:
        contact = _code_contact(current, request)
        async with reauth.counted(identity, current.id):
            await identity.check_code(contact, Scenario.deregister, request.code)
    else:
        await reauth.check_password(identity, current.id, request.password or "")
    async with uow.transaction() as con:
        if not await identity.delete_user(con, current.id):
            raise domain.login_required()
        return await uow.commit(v1.Done())


def _code_contact(user: User, request: v1.Deregister) -> Identifier:
    """The contact the code went to: a verified one only (a contact counts once proved, see
    services/identity/claims.py), the email unless `contact_type` says otherwise."""
    if request.contact_type is not None:
        kind = IdKind(request.contact_type.value)
    else:
        kind = IdKind.email if user.email_verified else IdKind.phone
    value = user.contact(kind.value)
    if value is None or not user.verified(kind.value):
        raise InvalidParams("contact_type", f"no verified {kind.value} to receive a code")
    return Identifier(kind, value)


async def get_properties(
    identity: IdentityService, uow: UnitOfWork, request: v1.GetProperties
) -> v1.PropertiesResult:
    properties = store.rows.properties_of(await identity.current(request.token))
    if request.names is not None:
        properties = {name: properties[name] for name in request.names if name in properties}
    return v1.PropertiesResult(properties=properties)


async def get_property(
    identity: IdentityService, uow: UnitOfWork, request: v1.GetProperty
) -> v1.PropertyValue:
    properties = store.rows.properties_of(await identity.current(request.token))
    return v1.PropertyValue(value=properties.get(request.name))


async def save_property(
    identity: IdentityService, uow: UnitOfWork, request: v1.SaveProperty
) -> v1.PropertiesResult:
    domain.check_property_name(request.name, "name")
    return await _save(
        identity, uow, request.token, {request.name: request.value}, request.password
    )


async def save_properties(
    identity: IdentityService, uow: UnitOfWork, request: v1.SaveProperties
) -> v1.PropertiesResult:
    domain.check_property_keys(request.properties)
    return await _save(identity, uow, request.token, request.properties, request.password)


async def _save(
    identity: IdentityService,
    uow: UnitOfWork,
    token: str,
    patch: dict[str, Any],
    password: str | None,
) -> v1.PropertiesResult:
    current = await identity.current(token)
    await reauth.require_for_properties(identity, current, patch, password)
    async with uow.transaction() as con:
        # Locked so two partial updates of different keys both land.
        row = one(await store.users.lock_user(con, current.id))
        merged, changed = domain.merge_properties(store.rows.properties_of(row), patch)
        if changed:
            await store.users.save_properties(con, current.id, merged)
            await identity.emit(
                con,
                events.user_properties_updated,
                events.UserPropertiesUpdated(user_id=row.public_id, keys=changed),
                row.public_id,
            )
        return await uow.commit(v1.PropertiesResult(properties=merged))
