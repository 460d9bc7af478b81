"""Write a hook in a few lines (Actions-style, seed 002).

    from gatehouse.hooks import hook, run

    @hook("post_login")
    async def require_verified_email(event, api):
        if not event.user.email_verified:
            api.access.deny("unverified", "Please verify your email first")

    if __name__ == "__main__":
        run()

Each hook gets an auto-delete queue on the hooks exchange bound with
`hooks.<trigger>.v1.<priority:03d>.<name>` and is announced to identity with
`identity.register_hook.v2` (on the workers exchange), again every
`hook_announce_interval_s`; identity calls the hooks of a trigger in (priority, name) order,
and the worker answers on the workers exchange, routing key `reply_to`. While the worker is
stopped its queues are gone: identity fails the flow under `fail_closed` and skips the hook
under `fail_open`; after `hook_forget_after_s` without an announcement it forgets it.
A worker reads its settings from `GATEHOUSE_*` variables (`BrokerSettings`) and signs in as the
workers user (docs/operations/broker-users.md): it needs the hooks exchange to exist (Gatehouse's
services declare it) and declares nothing but its own queues.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aio_pika.exceptions import AMQPError
from faststream.rabbit import RabbitMessage, RabbitQueue
from pydantic import ValidationError

from contracts.errors import ErrorCode
from contracts.hooks import v1 as hooks
from gatehouse import _envelope as envelope
from gatehouse._broker import existing_exchange, make_broker, raw_message
from gatehouse._publisher import Publisher
from gatehouse.rpc import RemoteError, RpcClient
from gatehouse.settings import BrokerSettings

__all__ = [
    "Api",
    "BrokerSettings",
    "Hook",
    "HookHandler",
    "HookWorker",
    "hook",
    "make_hook",
    "run",
]

log = logging.getLogger("gatehouse.hooks")

HookHandler = Callable[[hooks.HookEvent, "Api"], Awaitable[None]]


@dataclass(frozen=True)
class Hook:
    trigger: hooks.Trigger
    name: str
    priority: int
    handler: HookHandler


_registered: list[Hook] = []


def hook(
    trigger: str, *, name: str | None = None, priority: int = 100
) -> Callable[[HookHandler], HookHandler]:
    """Register `handler` on `trigger` (`pre_registration`, `post_login`); lower priority
    runs first. The name (default: the function's) is unique within the trigger; `api.cache`
    is the trigger's, shared by its hooks (seed 002)."""

    def decorator(handler: HookHandler) -> HookHandler:
        _registered.append(make_hook(trigger, handler, name=name, priority=priority))
        return handler

    return decorator


def make_hook(
    trigger: str, handler: HookHandler, *, name: str | None = None, priority: int = 100
) -> Hook:
    # Validated now, so a bad name fails at import rather than at registration.
    spec = hooks.RegisterHook(
        trigger=hooks.Trigger(trigger), name=name or handler.__name__, priority=priority
    )
    return Hook(spec.trigger, spec.name, spec.priority, handler)


# --- the api object a hook receives --------------------------------------------------------


class _Access:
    def __init__(self, ops: list[Any]) -> None:
        self._ops = ops

    def deny(self, reason: str, user_message: str) -> None:
        self._ops.append(hooks.Deny(reason=reason, user_message=user_message))


class _Validation:
    def __init__(self, ops: list[Any]) -> None:
        self._ops = ops

    def error(self, error_code: str, error_message: str) -> None:
        self._ops.append(
            hooks.ValidationFailure(error_code=error_code, error_message=error_message)
        )


class _User:
    def __init__(self, ops: list[Any]) -> None:
        self._ops = ops

    def set_app_metadata(self, key: str, value: Any) -> None:
        self._ops.append(hooks.SetAppMetadata(key=key, value=value))

    def set_user_metadata(self, key: str, value: Any) -> None:
        self._ops.append(hooks.SetUserMetadata(key=key, value=value))

    def set_user_id(self, user_id: str) -> None:
        self._ops.append(hooks.SetUserId(user_id=user_id))


class _Cache:
    """Reads the snapshot of the trigger's cache identity sent, as changed by this execution's
    own sets/deletes (identity applies them in the same order)."""

    def __init__(self, ops: list[Any], snapshot: dict[str, hooks.CacheEntry]) -> None:
        self._ops = ops
        self._entries: dict[str, dict[str, Any] | None] = {
            k: {"value": e.value, "expires_at": e.expires_at} for k, e in snapshot.items()
        }

    def get(self, key: str) -> dict[str, Any] | None:
        """`{"value": ..., "expires_at": ...}`, or None when there is no such record."""
        return self._entries.get(key)

    def set(
        self, key: str, value: str, *, ttl_ms: int | None = None, expires_at: datetime | None = None
    ) -> None:
        self._ops.append(hooks.CacheSet(key=key, value=value, ttl_ms=ttl_ms, expires_at=expires_at))
        self._entries[key] = {"value": value, "expires_at": expires_at}

    def delete(self, key: str) -> None:
        self._ops.append(hooks.CacheDelete(key=key))
        self._entries.pop(key, None)


class Api:
    def __init__(self, cache: dict[str, hooks.CacheEntry]) -> None:
        self.operations: list[Any] = []
        self.access = _Access(self.operations)
        self.validation = _Validation(self.operations)
        self.user = _User(self.operations)
        self.cache = _Cache(self.operations, cache)


# --- the worker ----------------------------------------------------------------------------


class HookWorker:
    """Serves some hooks; `start()` binds their queues and announces them to identity."""

    def __init__(
        self, hook_list: list[Hook], settings: BrokerSettings, *, replies: Publisher | None = None
    ) -> None:
        """`replies`: where the answers go; `gatehouse.testing` passes one that keeps them."""
        self.hooks = hook_list
        self.settings = settings
        self.topology = settings.topology
        self.broker = make_broker(settings)
        self._replies = replies or Publisher(settings.amqp_url.get_secret_value())
        self._announcer: asyncio.Task[None] | None = None
        for item in hook_list:
            # Auto-delete: when the last worker of a hook goes, so does its binding, and
            # identity's mandatory publish comes back unroutable instead of timing out.
            queue = RabbitQueue(
                self.topology.hook_queue(item.trigger.value, item.name),
                durable=False,
                auto_delete=True,
                routing_key=hooks.routing_key(item.trigger, item.priority, item.name),
            )
            self.broker.subscriber(
                queue, existing_exchange(self.topology.hooks), decoder=raw_message, no_reply=True
            )(self._consumer(item))

    def _consumer(self, item: Hook) -> Callable[[RabbitMessage], Awaitable[None]]:
        async def consume(message: RabbitMessage) -> None:
            reply = await self._answer(item, message.body)
            reply_to = message.reply_to
            if not reply_to:
                return
            if not reply_to.startswith(self.topology.hook_replies_prefix):
                # Not identity's reply queue (an identity from before replies moved to the
                # workers exchange): the broker would refuse the publish and close the channel.
                log.warning("hook %s: cannot answer to %s", item.name, reply_to)
                return
            await self._replies.reply(
                reply_to, message.correlation_id, reply, exchange=self.topology.workers
            )

        return consume

    async def _answer(self, item: Hook, body: bytes) -> bytes:
        try:
            request = hooks.HookRequest.model_validate_json(body)
        except ValidationError as exc:
            return envelope.invalid_params(exc)
        api = Api(request.cache)
        try:
            await item.handler(request.event, api)
            return envelope.ok(hooks.HookReply(operations=api.operations))
        except Exception:
            log.exception("hook %s failed", item.name)
            return envelope.error(ErrorCode.internal_error, f"hook {item.name} failed")

    async def start(self) -> None:
        await self._replies.connect()
        await self.broker.connect()
        await self.broker.start()
        heard = await self._announce()
        self._announcer = asyncio.create_task(self._keep_announcing(heard))

    async def _announce(self) -> bool:
        async with RpcClient(
            self.settings.amqp_url.get_secret_value(), self.topology, timeout_s=5.0
        ) as rpc:
            for item in self.hooks:
                request = hooks.RegisterHook(
                    trigger=item.trigger, name=item.name, priority=item.priority
                )
                try:
                    await rpc.result(hooks.register_hook_v2, request)
                except RemoteError as exc:
                    log.warning("could not register hook %s: %s", item.name, exc.code)
                    return False
        return True

    async def _keep_announcing(self, heard: bool) -> None:
        """Announce again and again until stop(): identity forgets the hooks that nobody
        announced for a while, so a registry survives only as long as its workers."""
        interval = self.settings.hook_announce_interval_s
        while True:
            # Until identity has heard us (it may not be up yet), retry sooner.
            await asyncio.sleep(interval if heard else min(interval, 5.0))
            try:
                heard = await self._announce()
            except (OSError, TimeoutError, AMQPError) as exc:
                log.warning("could not announce hooks: %s", type(exc).__name__)
                heard = False

    async def stop(self) -> None:
        if self._announcer is not None:
            self._announcer.cancel()
        await self.broker.stop()
        await self._replies.close()

    async def run(self) -> None:
        """Serve until cancelled."""
        await self.start()
        log.info("serving hooks %s", ", ".join(h.name for h in self.hooks))
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()


def run(settings: BrokerSettings | None = None) -> None:
    """Serve every hook registered with `@hook` until interrupted."""
    asyncio.run(HookWorker(list(_registered), settings or BrokerSettings()).run())
