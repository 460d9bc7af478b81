"""`IdentityService`: what every identity flow is given, and the steps several flows take
the same way (check a code, load the signed-in user, write an event, apply the hooks' effects).

It holds no state of its own beyond the running `Service` it wraps: the policy read from the
settings, the password hasher and the hook runner (both started and stopped with the service
in app.py).
"""

import time
from datetime import timedelta
from typing import Any

import asyncpg
from pydantic import BaseModel

from contracts.events import v1 as events
from contracts.hooks.v1 import Client
from contracts.topology import Event
from contracts.verification import v1 as verification
from gatehouse.rpc import RpcClient
from services.identity import domain, standing, store, throttling
from services.identity.common_passwords import common_passwords
from services.identity.domain import Identifier, IdKind, Policy
from services.identity.hashing import Hasher, argon2id
from services.identity.hook_effects import Effects
from services.identity.hooks import HookRunner
from services.identity.settings import IdentitySettings
from services.identity.store.rows import SessionUser, User
from services.identity.tokens import AccessTokens
from services.identity.views import contacts_of, event, owner_of
from services.runtime import outbox
from services.runtime.db import Connection
from services.runtime.service import Service
from services.runtime.settings import narrow


def policy_from(settings: IdentitySettings) -> Policy:
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
        common_passwords=common_passwords() if settings.password_common_check else frozenset(),
    )


class IdentityService:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.settings = settings = narrow(service.settings, IdentitySettings)
        self.policy = policy_from(settings)
        self.region = settings.phone_region
        self.hasher = Hasher(
            settings.password_hash_workers,
            argon2id(settings.password_hash_memory_kib, settings.password_hash_iterations),
        )
        self.hooks = HookRunner(service)
        self.tokens = AccessTokens(service)
        self.mfa_token_ttl = timedelta(seconds=settings.mfa_token_ttl_s)
        self.log = service.log
        # Remember chains, step-up and sign-in limits (issue 22).
        self.remember_chain_ttl = timedelta(seconds=settings.remember_chain_ttl_s)
        self.reauth_window = timedelta(seconds=settings.reauth_window_s)
        self.known_client_ttl = timedelta(seconds=settings.login_known_client_ttl_s)
        self.spray_limits = throttling.SprayLimits(
            per_client_ip=settings.login_max_failures_per_client_ip,
            per_caller=settings.login_max_failures_per_caller,
            overall=settings.login_max_failures_global,
            window=timedelta(seconds=settings.login_spray_window_s),
        )

    def now(self) -> float:
        """Unix time one-time passwords are checked at (tests set it; services.identity.
        authenticator)."""
        return time.time()

    @property
    def pool(self) -> asyncpg.Pool:
        return self.service.pool

    @property
    def rpc(self) -> RpcClient:
        assert self.service.rpc is not None, "identity is built with uses_rpc=True"
        return self.service.rpc

    async def check_code(
        self, ident: Identifier, scenario: verification.Scenario, code: str
    ) -> None:
        """Consume a code through the verification service; its error reaches the caller as is
        (`code_invalid`, `code_expired`, `too_many_attempts`). Through `redeem_code`, on the
        internal exchange: the public `check_code` refuses sign-in and recovery codes."""
        await self.rpc.result(
            verification.redeem_code,
            verification.CheckCode(send_to=ident.value, scenario=scenario, code=code),
        )

    async def current(self, token: str) -> SessionUser:
        """The signed-in user of a session token (sliding its expiry), or `login_required`.
        A disabled user's sessions were revoked with the disable; should one still be found,
        it answers `account_disabled`, as a sign-in would."""
        row = await store.sessions.session_user(
            self.pool, domain.token_digest(token), self.policy.session_ttl
        )
        if row is None:
            raise domain.login_required()
        if row.disabled:
            raise standing.account_disabled(row.disabled_until)
        return row

    async def emit(
        self, con: Connection, spec: Event[Any], data: BaseModel, subject: str | None
    ) -> None:
        await outbox.enqueue(con, event(spec, data, subject))

    async def emit_contact_bound(
        self,
        con: Connection,
        before: User,
        after: User,
        kind: events.ContactType,
        client: Client | None,
    ) -> None:
        """`user.contact_bound` for the `kind` contact `after` has, preceded by
        `user.contact_unbound` for the one it replaced, both with the owner as `after` is."""
        subject, value, replaced = (
            after.public_id,
            after.contact(kind.value),
            before.contact(kind.value),
        )
        owner = owner_of(after)
        if replaced is not None and replaced != value:
            unbound = events.UserContactUnbound(
                user_id=subject,
                contact=events.Contact(type=kind, value=replaced),
                verified=before.verified(kind.value),
                owner=owner,
                client=client,
            )
            await self.emit(con, events.user_contact_unbound, unbound, subject)
        bound = events.UserContactBound(
            user_id=subject,
            contact=events.Contact(type=kind, value=value),
            owner=owner,
            client=client,
        )
        await self.emit(con, events.user_contact_bound, bound, subject)

    async def delete_user(self, con: Connection, user_id: int) -> bool:
        """Delete the user and all their data (`deregister`, an operator's `delete_user`), with
        `user.deregistered`; False when there was no such user any more."""
        user, sessions = await store.users.delete_user(con, user_id)
        if user is None:
            return False
        await self.emit(
            con,
            events.user_deregistered,
            events.UserDeregistered(
                user_id=user.public_id,
                username=user.username,
                contacts=contacts_of(user),
                revoked_session_ids=sessions,
                all_sessions_revoked=True,
            ),
            user.public_id,
        )
        return True

    def client_digest(self, client: Client | None) -> bytes | None:
        """The keyed hash a client is known by (`throttling.client_digest`)."""
        # The key is read when first needed, like every use of a server secret (not at build).
        return throttling.client_digest(self.settings.login_client_key, client)

    def remembers(self, remember: bool) -> bool:
        return remember and self.policy.auto_login

    async def apply_effects(self, con: Connection, user: User, effects: Effects) -> User:
        """The hooks' metadata changes of a flow, in one statement (in the flow's transaction)."""
        if not effects.touches_metadata:
            return user
        return await store.users.apply_metadata(
            con,
            user.id,
            effects.app_set,
            sorted(effects.app_deleted),
            effects.user_set,
            sorted(effects.user_deleted),
        )

    def contact_ident(self, email: str | None, phone: str | None) -> Identifier:
        return domain.one_identifier(
            None, email, phone, self.region, allowed=(IdKind.email, IdKind.phone)
        )

    def any_ident(self, username: str | None, email: str | None, phone: str | None) -> Identifier:
        return domain.one_identifier(username, email, phone, self.region)
