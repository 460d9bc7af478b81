"""Calling hooks: each registered hook of a trigger in (priority, name) order, as RPC on the
hooks exchange, with the trigger's timeout and failure policy.

A registered hook whose queue is gone comes back unroutable at once (mandatory publish): like
a hook that times out or answers garbage, it fails the flow under `fail_closed` and is
skipped, with a log line, under `fail_open`. With no hook registered a flow pays one indexed
query and nothing else. Hooks answer on the workers exchange, into a queue of this runner's
own (`Topology.hook_replies_prefix`): workers may not publish to the default exchange.

The cache a hook reads and writes is its trigger's, in this namespace, shared by the trigger's
hooks (seed 002): each call carries it as the earlier hooks of the flow left it. An entry lives
24 hours unless the hook says otherwise, and never longer than `CACHE_MAX_TTL_MS`, whether it
asked with `ttl_ms` (refused beyond it, by the contract) or `expires_at` (cut to it here).
"""

import asyncio
import json
import logging
import uuid
from typing import Any

import asyncpg
from pydantic import ValidationError

from contracts.errors import ErrorCode
from contracts.hooks import v1 as hooks
from gatehouse.errors import GatehouseError
from gatehouse.rpc import RpcClient
from services.identity import store
from services.identity.hook_effects import Effects
from services.identity.settings import IdentitySettings
from services.runtime import work
from services.runtime.service import Service
from services.runtime.settings import narrow

log = logging.getLogger("gatehouse.identity.hooks")


class HookError(GatehouseError):
    code = ErrorCode.hook_unavailable


class Malformed(Exception):
    """A reply that is not a list of operations valid for the trigger."""


# Registrations reach other identity replicas within this long; the one that takes a
# registration sees it at once. Saves a query on every registration and login.
REGISTRY_TTL_S = 2.0

CACHE_LIMITS = store.hooks.CacheLimits(
    max_keys=hooks.CACHE_MAX_KEYS,
    max_bytes=hooks.CACHE_MAX_BYTES,
    max_ttl_ms=hooks.CACHE_MAX_TTL_MS,
)


class HookRunner:
    def __init__(self, service: Service) -> None:
        self.service = service
        self._registry: dict[hooks.Trigger, tuple[float, list[store.hooks.Hook]]] = {}
        settings = narrow(service.settings, IdentitySettings)
        self.rpc = RpcClient(
            settings.amqp_url.get_secret_value(),
            service.topology,
            timeout_s=max(settings.hook_pre_registration_timeout_s, 1.0),
            exchange=service.topology.hooks,
            message_ids=work.child_message_id,
            guard=work.forbid_network,
            name="gatehouse-identity-hooks",
            replies=(
                service.topology.workers,
                f"{service.topology.hook_replies_prefix}{uuid.uuid4().hex}",
            ),
        )
        self.max_per_trigger = settings.hook_max_per_trigger
        self.timeout_s = {
            hooks.Trigger.pre_registration: settings.hook_pre_registration_timeout_s,
            hooks.Trigger.post_login: settings.hook_post_login_timeout_s,
        }
        self.fail_closed = {
            hooks.Trigger.pre_registration: settings.hook_pre_registration_policy == "fail_closed",
            hooks.Trigger.post_login: settings.hook_post_login_policy == "fail_closed",
        }

    def reload(self) -> None:
        """Read the registry again at the next flow (this replica's two-second cache)."""
        self._registry.clear()

    async def start(self) -> None:
        await self.rpc.connect()

    async def stop(self) -> None:
        await self.rpc.close()

    async def register(self, request: hooks.RegisterHook) -> hooks.HookRegistered:
        changed = await store.hooks.register_hook(
            self.service.pool,
            request.trigger.value,
            request.name,
            request.priority,
            self.max_per_trigger,
        )
        if changed is None:
            # A flood of made-up names would cost a publish on every sign-in: refused.
            log.warning(
                "hook %s refused on %s: already %d hooks (GATEHOUSE_HOOK_MAX_PER_TRIGGER)",
                request.name,
                request.trigger,
                self.max_per_trigger,
            )
            raise GatehouseError(
                f"{request.trigger} already has {self.max_per_trigger} hooks",
                code=ErrorCode.invalid_operation,
            )
        if changed:  # workers announce again every minute: only news is worth a line
            self.reload()
            log.info(
                "hook %s registered on %s (priority %d)",
                request.name,
                request.trigger,
                request.priority,
            )
        return hooks.HookRegistered(
            routing_key=hooks.routing_key(request.trigger, request.priority, request.name)
        )

    async def run(
        self,
        trigger: hooks.Trigger,
        user: hooks.HookUser,
        *,
        contact: str | None = None,
        method: str | None = None,
        client: hooks.Client | None = None,
    ) -> Effects:
        """Run the trigger's hooks; raise `access_denied`, `validation_error` or
        `hook_unavailable`, or return what they asked to change."""
        effects = Effects()
        pool = self.service.pool
        for row in await self._hooks_of(trigger):
            name, priority = row.name, row.priority
            request = hooks.HookRequest(
                hook=name,
                event=hooks.HookEvent(
                    trigger=trigger,
                    user=effects.view(user),
                    contact=contact,
                    method=method,
                    client=client or hooks.Client(),
                ),
                # The trigger's cache, as the hooks before this one in the flow left it.
                cache={
                    r.key: hooks.CacheEntry(value=r.value, expires_at=r.expires_at)
                    for r in await store.hooks.cache_snapshot(pool, trigger.value)
                },
            )
            raw = await self.rpc.call_raw(
                hooks.routing_key(trigger, priority, name),
                request.model_dump_json().encode(),
                timeout_s=self.timeout_s[trigger],
            )
            try:
                operations = self._operations(trigger, raw)
            except _Unbound:
                # Registered, not running now: nobody to ask, which a fail_closed trigger
                # must not read as "nothing to object".
                self._failed(trigger, name, "unroutable: no worker serves it")
                continue
            except Malformed as exc:
                self._failed(trigger, name, str(exc))
                continue
            await self._apply(pool, trigger, name, operations, effects)
        return effects

    async def _hooks_of(self, trigger: hooks.Trigger) -> list[store.hooks.Hook]:
        now = asyncio.get_running_loop().time()
        cached = self._registry.get(trigger)
        if cached is not None and now - cached[0] < REGISTRY_TTL_S:
            return cached[1]
        rows = await store.hooks.hooks_of(self.service.pool, trigger.value)
        self._registry[trigger] = (now, rows)
        return rows

    def _operations(self, trigger: hooks.Trigger, raw: bytes) -> list[Any]:
        try:
            # Not envelope.parse: a hook's reply is untrusted and may be any JSON at all.
            reply = json.loads(raw)
        except (ValueError, TypeError) as exc:
            raise Malformed("reply is not JSON") from exc
        if not isinstance(reply, dict) or "ok" not in reply:
            raise Malformed("reply is not an envelope")
        if not reply["ok"]:
            code = (reply.get("error") or {}).get("code")
            if code == ErrorCode.unknown_command:
                raise _Unbound
            raise Malformed(f"hook answered {code}")
        try:
            operations = hooks.HookReply.model_validate(reply.get("result")).operations
        except ValidationError as exc:
            raise Malformed(f"invalid operations: {exc.error_count()} errors") from exc
        if trigger is not hooks.Trigger.pre_registration and any(
            isinstance(op, hooks.SetUserId) for op in operations
        ):
            raise Malformed("set_user_id is allowed in pre_registration only")
        return operations

    def _failed(self, trigger: hooks.Trigger, name: str, why: str) -> None:
        if self.fail_closed[trigger]:
            log.error("hook %s on %s failed (%s): failing the flow", name, trigger, why)
            raise HookError(f"a {trigger} hook is unavailable; try again later", hook=name)
        log.warning("hook %s on %s failed (%s): continuing without it", name, trigger, why)

    async def _apply(
        self,
        pool: asyncpg.Pool,
        trigger: hooks.Trigger,
        name: str,
        operations: list[Any],
        effects: Effects,
    ) -> None:
        cache: list[store.hooks.CacheSet | store.hooks.CacheDelete] = []
        stop: GatehouseError | None = None
        for op in operations:
            if isinstance(op, hooks.CacheSet):
                # Seed 002: 24 h unless told; never beyond the cap, however it is told.
                ttl_ms = op.ttl_ms or hooks.CACHE_DEFAULT_TTL_MS
                cache.append(store.hooks.CacheSet(op.key, op.value, op.expires_at, ttl_ms))
            elif isinstance(op, hooks.CacheDelete):
                cache.append(store.hooks.CacheDelete(op.key))
            elif stop is not None:
                continue  # the flow stops at a deny: later operations are void
            elif isinstance(op, hooks.Deny):
                # The reason is for the operator; the user sees only user_message.
                log.warning("hook %s on %s denied access: %s", name, trigger, op.reason)
                stop = GatehouseError(op.user_message, code=ErrorCode.access_denied)
            elif isinstance(op, hooks.ValidationFailure):
                log.warning("hook %s on %s: validation error %s", name, trigger, op.error_code)
                stop = GatehouseError(
                    op.error_message, code=ErrorCode.validation_error, error_code=op.error_code
                )
            else:
                effects.add(op)
        if cache:
            async with pool.acquire() as con:
                await store.hooks.update_cache(con, trigger.value, name, cache, CACHE_LIMITS)
        if stop is not None:
            raise stop


class _Unbound(Exception):
    pass
