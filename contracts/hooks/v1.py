"""Hooks, version 1: extension points identity calls during a flow (Actions-style).

Identity calls each hook bound to a trigger as an RPC on the hooks exchange
(`<ns>.hooks`), routing key `hooks.<trigger>.v1.<priority:03d>.<name>`, one after the
other in (priority, name) order, with `reply_to` naming identity's reply queue: the hook
answers on the workers exchange (`<ns>.workers`) with that name as routing key. A hook
announces itself with `identity.register_hook.v2` (on the workers exchange) when its worker
starts and again every `GATEHOUSE_HOOK_ANNOUNCE_INTERVAL_S`; identity keeps the registry in
its schema, per namespace, and forgets a hook nobody announced for
`GATEHOUSE_HOOK_FORGET_AFTER_S`. A registered hook whose queue is gone (its worker stopped)
comes back unroutable at once: under `fail_closed` the flow fails, under `fail_open` the hook
is skipped.

The request carries the event and a snapshot of the trigger's cache (seed 002: "scoped to the
Trigger in which they are set": the hooks of one trigger share it, per namespace); the reply is
a list of operations, the wire form of the SDK's `api.access`, `api.validation`, `api.user` and
`api.cache` calls.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field

from contracts.envelope import Contract
from contracts.errors import ErrorCode
from contracts.topology import WORKERS, Command, hook_routing_key

VERSION = 1
CACHE_MAX_KEYS = 100
CACHE_MAX_BYTES = 64 * 1024
CACHE_DEFAULT_TTL_MS = 24 * 3600 * 1000
CACHE_MAX_TTL_MS = 7 * 24 * 3600 * 1000


class Trigger(StrEnum):
    pre_registration = "pre_registration"
    post_login = "post_login"


HookName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="Unique name of the hook within its trigger.",
        examples=["require_verified_email"],
    ),
]
Priority = Annotated[
    int,
    Field(ge=0, le=999, description="Lower runs first; ties run in name order.", examples=[100]),
]
MetadataKey = Annotated[str, Field(min_length=1, max_length=255, examples=["plan"])]
CacheKey = Annotated[str, Field(min_length=1, max_length=255, examples=["last_seen"])]
CacheValue = Annotated[str, Field(max_length=8192, examples=["2026-01-01T12:00:00Z"])]
UserIdValue = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_.:@|-]{1,128}$",
        description="A public user id chosen by the hook; unique.",
        examples=["crm|42"],
    ),
]


def routing_key(trigger: Trigger, priority: int, name: str) -> str:
    """The binding of one hook's queue: ordered by the priority spelled into it."""
    return f"{hook_routing_key(trigger.value, VERSION)}.{priority:03d}.{name}"


# --- request -------------------------------------------------------------------------------


class HookUser(Contract):
    """The user as the flow has it so far: for pre-registration, the user about to be
    created (its `id` may still be changed with `set_user_id`); metadata includes what
    earlier hooks of the same flow set."""

    id: str = Field(examples=["u_8Zk3fQ2b9xW1"])
    username: str | None = Field(None, examples=["ada_lovelace"])
    email: str | None = Field(None, examples=["ada@example.com"])
    phone: str | None = Field(None, examples=["+447911123456"])
    email_verified: bool = False
    phone_verified: bool = False
    app_metadata: dict[str, Any] = Field(default_factory=dict, examples=[{"plan": "pro"}])
    user_metadata: dict[str, Any] = Field(default_factory=dict, examples=[{"theme": "dark"}])


class Client(Contract):
    """What the caller told identity about the end user's client, if anything."""

    client_ip: str | None = Field(None, max_length=64, examples=["203.0.113.7"])
    user_agent: str | None = Field(None, max_length=512, examples=["Mozilla/5.0"])


class HookEvent(Contract):
    trigger: Trigger
    user: HookUser
    contact: str | None = Field(
        None, description="The email or phone the flow is about, if any.", examples=["a@x.io"]
    )
    method: str | None = Field(None, description="post_login: how the user signed in.")
    client: Client = Field(default_factory=Client)


class CacheEntry(Contract):
    value: str
    expires_at: datetime


class HookRequest(Contract):
    hook: str
    event: HookEvent
    cache: dict[str, CacheEntry] = Field(
        default_factory=dict,
        description="The trigger's unexpired cache entries, shared by its hooks, as the "
        "earlier hooks of this flow left them.",
    )


# --- reply ---------------------------------------------------------------------------------


class Deny(Contract):
    op: Literal["access.deny"] = "access.deny"
    reason: str = Field(max_length=1000, description="Logged only; never shown to the user.")
    user_message: str = Field(max_length=1000, description="Shown to the user.")


class ValidationFailure(Contract):
    op: Literal["validation.error"] = "validation.error"
    error_code: str = Field(max_length=100)
    error_message: str = Field(max_length=1000)


class SetAppMetadata(Contract):
    op: Literal["user.set_app_metadata"] = "user.set_app_metadata"
    key: MetadataKey
    value: Any = Field(None, description="`null` removes the key.")


class SetUserMetadata(Contract):
    op: Literal["user.set_user_metadata"] = "user.set_user_metadata"
    key: MetadataKey
    value: Any = Field(None, description="`null` removes the key.")


class SetUserId(Contract):
    op: Literal["user.set_user_id"] = "user.set_user_id"
    user_id: UserIdValue


class CacheSet(Contract):
    op: Literal["cache.set"] = "cache.set"
    key: CacheKey
    value: CacheValue
    ttl_ms: int | None = Field(
        None,
        ge=1,
        le=CACHE_MAX_TTL_MS,
        description="Lifetime in milliseconds, at most 7 days. Without it or `expires_at`: "
        "24 hours.",
    )
    expires_at: datetime | None = Field(
        None,
        description="When the entry expires (instead of `ttl_ms`); one beyond 7 days from "
        "when identity stores it is cut to 7 days.",
    )


class CacheDelete(Contract):
    op: Literal["cache.delete"] = "cache.delete"
    key: CacheKey


Operation = Annotated[
    Deny
    | ValidationFailure
    | SetAppMetadata
    | SetUserMetadata
    | SetUserId
    | CacheSet
    | CacheDelete,
    Field(discriminator="op"),
]


class HookReply(Contract):
    operations: list[Operation] = Field(default_factory=list, max_length=1000)


# --- registry ------------------------------------------------------------------------------


class RegisterHook(Contract):
    """Sent by a hook worker when it starts and again periodically: each announcement renews
    the registration, and may change the priority."""

    trigger: Trigger = Field(examples=["post_login"])
    name: HookName
    priority: Priority = 100


class HookRegistered(Contract):
    routing_key: str = Field(
        description="The binding identity publishes to.",
        examples=["hooks.post_login.v1.100.require_verified_email"],
    )


# Retired: on the public commands exchange any caller could announce a hook, or move a
# fail_closed hook to a priority nobody serves. Kept in the catalog for the release's users,
# it is answered `forbidden`; workers announce with v2, on the workers exchange.
register_hook = Command(
    "identity",
    "register_hook",
    1,
    RegisterHook,
    HookRegistered,
    "Retired, always answered `forbidden`: hook workers announce with "
    "`identity.register_hook.v2` on the workers exchange.",
    errors=(ErrorCode.forbidden,),
)
register_hook_v2 = Command(
    "identity",
    "register_hook",
    2,
    RegisterHook,
    HookRegistered,
    "Announce a hook (trigger, name, priority) so identity calls it in its flows. Only hook "
    "workers send it, on the workers exchange; a new name beyond "
    "`GATEHOUSE_HOOK_MAX_PER_TRIGGER` is `invalid_operation`.",
    errors=(ErrorCode.invalid_params, ErrorCode.forbidden, ErrorCode.invalid_operation),
    exchange=WORKERS,
)

COMMANDS = (register_hook, register_hook_v2)
