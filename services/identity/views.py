"""What identity's rows look like to the outside: the user of a reply, the user a hook sees,
a user's contacts in an event, and the CloudEvents identity publishes."""

import json
import re
from typing import Any

import asyncpg
from pydantic import BaseModel

from contracts.admin import v1 as admin
from contracts.envelope import CloudEvent
from contracts.events import v1 as events
from contracts.events.v1.owner import LOCALE_PATTERN
from contracts.hooks import v1 as hooks
from contracts.identity import v1
from contracts.topology import Event
from services.runtime import outbox

SOURCE = "gatehouse/identity"
_LOCALE = re.compile(LOCALE_PATTERN)


def user_view(row: asyncpg.Record) -> v1.User:
    return v1.User(
        id=row["public_id"],
        username=row["username"],
        email=row["email"],
        phone=row["phone"],
        email_verified=row["email_verified"],
        phone_verified=row["phone_verified"],
        properties=json.loads(row["properties"]),
        app_metadata=json.loads(row["app_metadata"]),
        user_metadata=json.loads(row["user_metadata"]),
        mfa_enabled=row["mfa_enabled"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def admin_view(row: asyncpg.Record) -> admin.AdminUser:
    """What an operator sees: the user view, its standing and its last sign-in."""
    status = admin.AccountStatus.disabled if row["disabled"] else admin.AccountStatus.active
    return admin.AdminUser(
        **user_view(row).model_dump(),
        status=status,
        disabled_at=row["disabled_at"],
        disabled_until=row["disabled_until"],
        disabled_reason=row["disabled_reason"],
        password_reset_required=row["password_reset_required"],
        last_login_at=row["last_login_at"],
    )


def owner_of(row: asyncpg.Record) -> events.AccountOwner:
    """How to reach the user, for the security events their owner is told about. The
    locale is the user's `locale` property, when it holds a language tag."""
    locale = json.loads(row["properties"]).get("locale")
    return events.AccountOwner(
        email=row["email"],
        email_verified=row["email_verified"],
        phone=row["phone"],
        phone_verified=row["phone_verified"],
        locale=locale if isinstance(locale, str) and _LOCALE.match(locale) else None,
    )


def hook_user(row: asyncpg.Record) -> hooks.HookUser:
    """The part of the user view a hook sees."""
    view = user_view(row).model_dump(include=set(hooks.HookUser.model_fields))
    return hooks.HookUser.model_validate(view)


def contacts_of(row: asyncpg.Record) -> list[events.Contact]:
    return [
        events.Contact(type=events.ContactType(kind), value=row[kind])
        for kind in ("email", "phone")
        if row[kind] is not None
    ]


def event(spec: Event[Any], data: BaseModel, subject: str | None) -> CloudEvent[Any]:
    return outbox.cloud_event(spec, data, source=SOURCE, subject=subject)
