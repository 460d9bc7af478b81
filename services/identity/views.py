"""What identity's rows look like to the outside: the user of a reply, the user a hook sees,
a user's contacts in an event, and the CloudEvents identity publishes."""

import functools
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from contracts.admin import v1 as admin
from contracts.envelope import CloudEvent
from contracts.events import v1 as events
from contracts.events.v1.owner import LOCALE_PATTERN
from contracts.hooks import v1 as hooks
from contracts.identity import v1
from contracts.topology import Event
from gatehouse import _envelope as envelope
from services.identity.store.rows import User
from services.runtime import outbox
from services.runtime.work import UnitOfWork

SOURCE = "gatehouse/identity"
_LOCALE = re.compile(LOCALE_PATTERN)


def user_view(row: User) -> v1.User:
    return v1.User(
        id=row.public_id,
        username=row.username,
        email=row.email,
        phone=row.phone,
        email_verified=row.email_verified,
        phone_verified=row.phone_verified,
        properties=json.loads(row.properties),
        app_metadata=json.loads(row.app_metadata),
        user_metadata=json.loads(row.user_metadata),
        mfa_enabled=row.mfa_enabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _monaca_reply(result: BaseModel) -> bytes:
    user = getattr(result, "user", None)
    if isinstance(user, v1.User):
        result = result.model_copy(update={"monaca_user": monaca_user(user)})
    return envelope.ok(result)


def monaca_user(user: v1.User) -> v1.MonacaUser:
    """Seed 004's user object: `_id`, `_username`, `_createdAt`, `_updateAt` (Unix time,
    seconds) and the user-defined properties beside them (their keys never start with `_`)."""
    return v1.MonacaUser.model_validate(
        {
            **user.properties,
            "_id": user.id,
            "_username": user.username,
            "_createdAt": int(user.created_at.timestamp()),
            "_updateAt": int(user.updated_at.timestamp()),
        }
    )


class _Viewed(Protocol):
    @property
    def view(self) -> str: ...


Req = TypeVar("Req", bound=_Viewed)
Res = TypeVar("Res", bound=BaseModel)


def with_view(
    flow: Callable[[Any, UnitOfWork, Req], Awaitable[Res]],
) -> Callable[[Any, UnitOfWork, Req], Awaitable[Res]]:
    """`flow`, whose reply also carries `monaca_user` when the request asks for
    `view: "monaca"` and the reply has a user (an mfa challenge has none). The view is how the
    unit of work presents the result, so the reply recorded at its commit carries it too."""

    @functools.wraps(flow)
    async def answer(deps: Any, uow: UnitOfWork, request: Req) -> Res:
        if request.view == "monaca":
            uow.present = _monaca_reply
        return await flow(deps, uow, request)

    return answer


def admin_view(row: User) -> admin.AdminUser:
    """What an operator sees: the user view, its standing and its last sign-in."""
    status = admin.AccountStatus.disabled if row.disabled else admin.AccountStatus.active
    return admin.AdminUser(
        **user_view(row).model_dump(),
        status=status,
        disabled_at=row.disabled_at,
        disabled_until=row.disabled_until,
        disabled_reason=row.disabled_reason,
        password_reset_required=row.password_reset_required,
        last_login_at=row.last_login_at,
    )


def owner_of(row: User) -> events.AccountOwner:
    """How to reach the user, for the security events their owner is told about. The
    locale is the user's `locale` property, when it holds a language tag."""
    locale = json.loads(row.properties).get("locale")
    return events.AccountOwner(
        email=row.email,
        email_verified=row.email_verified,
        phone=row.phone,
        phone_verified=row.phone_verified,
        locale=locale if isinstance(locale, str) and _LOCALE.match(locale) else None,
    )


def hook_user(row: User) -> hooks.HookUser:
    """The part of the user view a hook sees."""
    view = user_view(row).model_dump(include=set(hooks.HookUser.model_fields))
    return hooks.HookUser.model_validate(view)


def contacts_of(row: User) -> list[events.Contact]:
    return [
        events.Contact(type=events.ContactType(kind), value=row.contact(kind))
        for kind in ("email", "phone")
        if row.contact(kind) is not None
    ]


def event(spec: Event[Any], data: BaseModel, subject: str | None) -> CloudEvent[Any]:
    return outbox.cloud_event(spec, data, source=SOURCE, subject=subject)
