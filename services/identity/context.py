"""What every identity flow shares: the service, the policy, the hasher, and the few steps
that several flows take the same way (check a code, load the signed-in user, open a session).
"""

import json
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from typing import Any

import asyncpg
from pydantic import BaseModel

from contracts.envelope import CloudEvent
from contracts.events import v1 as events
from contracts.hooks import v1 as hooks
from contracts.identity import v1
from contracts.topology import Event
from contracts.verification import v1 as verification
from services.identity import domain, store
from services.identity.domain import Identifier, IdKind, Policy
from services.identity.hashing import Hasher
from services.identity.hook_effects import Effects
from services.identity.hooks import HookRunner
from services.identity.tokens import AccessTokens
from services.runtime import outbox
from services.runtime.rpc import RpcClient
from services.runtime.service import Service
from services.runtime.settings import Settings

SOURCE = "gatehouse/identity"


def policy_from(settings: Settings) -> Policy:
    return Policy(
        username_min=settings.username_min_length,
        password_min=settings.password_min_length,
        session_ttl=timedelta(seconds=settings.session_ttl_s),
        session_absolute_ttl=timedelta(seconds=settings.session_absolute_ttl_s),
        remember_ttl=timedelta(seconds=settings.remember_ttl_s),
        auto_login=settings.auto_login,
        max_failures=settings.login_max_failures,
        failure_window=timedelta(seconds=settings.login_failure_window_s),
        reset_token_ttl=timedelta(seconds=settings.reset_token_ttl_s),
    )


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


def event(spec: Event, data: BaseModel, subject: str) -> CloudEvent[Any]:
    return outbox.cloud_event(spec, data, source=SOURCE, subject=subject)


def contacts_of(row: asyncpg.Record) -> list[events.Contact]:
    return [
        events.Contact(type=events.ContactType(kind), value=row[kind])
        for kind in ("email", "phone")
        if row[kind] is not None
    ]


class Identity:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.settings = service.settings
        self.policy = policy_from(service.settings)
        self.region = service.settings.phone_region
        self.hasher = Hasher(service.settings.password_hash_workers)
        self.hooks = HookRunner(service)
        self.tokens = AccessTokens(service)
        self.mfa_token_ttl = timedelta(seconds=service.settings.mfa_token_ttl_s)
        self.log = service.log

    @property
    def pool(self) -> asyncpg.Pool:
        return self.service.pool

    @property
    def rpc(self) -> RpcClient:
        assert self.service.rpc is not None
        return self.service.rpc

    async def check_code(
        self, ident: Identifier, scenario: verification.Scenario, code: str
    ) -> None:
        """Consume a code through the verification service; its error reaches the caller as is
        (`code_invalid`, `code_expired`, `too_many_attempts`)."""
        await self.rpc.result(
            verification.check_code,
            verification.CheckCode(send_to=ident.value, scenario=scenario, code=code),
        )

    async def current(self, token: str) -> asyncpg.Record:
        """The signed-in user of a session token (sliding its expiry), or `login_required`."""
        row = await store.session_user(
            self.pool, domain.token_digest(token), self.policy.session_ttl
        )
        if row is None:
            raise domain.login_required()
        return row

    async def emit(
        self, con: asyncpg.Connection, spec: Event, data: BaseModel, subject: str
    ) -> None:
        await outbox.enqueue(con, event(spec, data, subject))

    async def emit_contact_bound(
        self,
        con: asyncpg.Connection,
        subject: str,
        kind: events.ContactType,
        value: str,
        *,
        replaced: str | None,
    ) -> None:
        """`user.contact_bound`, preceded by `user.contact_unbound` for the contact it replaced."""
        if replaced is not None and replaced != value:
            unbound = events.Contact(type=kind, value=replaced)
            await self.emit(
                con,
                events.user_contact_unbound,
                events.UserContactUnbound(user_id=subject, contact=unbound),
                subject,
            )
        bound = events.Contact(type=kind, value=value)
        await self.emit(
            con,
            events.user_contact_bound,
            events.UserContactBound(user_id=subject, contact=bound),
            subject,
        )

    def remembers(self, remember: bool) -> bool:
        return remember and self.policy.auto_login

    def transaction(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """The flow's state change: see `Service.transaction` (it commits with the reply)."""
        return self.service.transaction()

    async def apply_effects(
        self, con: asyncpg.Connection, user: asyncpg.Record, effects: Effects
    ) -> asyncpg.Record:
        """The hooks' metadata changes of a flow, in one statement (in the flow's transaction)."""
        if not effects.touches_metadata:
            return user
        return await store.apply_metadata(
            con,
            user["id"],
            effects.app_set,
            sorted(effects.app_deleted),
            effects.user_set,
            sorted(effects.user_deleted),
        )

    def contact_ident(self, email: str | None, phone: str | None) -> Identifier:
        return domain.one_identifier(
            None, email, phone, self.region, allowed=(IdKind.email, IdKind.phone)
        )

    def any_ident(self, request: Any) -> Identifier:
        return domain.one_identifier(request.username, request.email, request.phone, self.region)
