"""What identity's rows look like to the outside: the user of a reply, the user a hook sees,
a user's contacts in an event, and the CloudEvents identity publishes."""

import json
from typing import Any

import asyncpg
from pydantic import BaseModel

from contracts.envelope import CloudEvent
from contracts.events import v1 as events
from contracts.hooks import v1 as hooks
from contracts.identity import v1
from contracts.topology import Event
from services.runtime import outbox

SOURCE = "gatehouse/identity"


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


def event(spec: Event[Any], data: BaseModel, subject: str) -> CloudEvent[Any]:
    return outbox.cloud_event(spec, data, source=SOURCE, subject=subject)
