"""A Gatehouse service: its broker, its database schema, its command subscribers.

The same object runs under `faststream run services.<name>.app:app` (through `app()`) and
inside `gatehouse up` next to the other services (through `start()` / `stop()`).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
from faststream import FastStream
from faststream.rabbit import RabbitMessage, RabbitQueue
from pydantic import BaseModel, ValidationError

from contracts.errors import ErrorCode
from contracts.topology import IDEMPOTENCY_HEADER, Command, Event
from services.runtime import db, envelope, idempotency, logs, replies, work
from services.runtime.broker import (
    declare_dead_letter,
    make_broker,
    raw_message,
    topic_exchange,
    work_queue,
)
from services.runtime.errors import GatehouseError
from services.runtime.events import EventHandler, event_consumer
from services.runtime.health import HealthServer, HttpRoute
from services.runtime.idempotency import IdempotencyStore
from services.runtime.logs import correlation_id, raised_at
from services.runtime.metrics import count_command
from services.runtime.outbox import OutboxRelay, purge_published
from services.runtime.replies import Replies
from services.runtime.retention import Purge, Retention, purge_all
from services.runtime.rpc import Publisher, RpcClient
from services.runtime.settings import Settings
from services.runtime.work import Conn, Work

Handler = Callable[[Any], Awaitable[BaseModel | None]]
Hook = Callable[[], Awaitable[None]]
Check = Callable[[], dict[str, bool]]

MAX_IDEMPOTENCY_KEY = 200
HOUSEKEEPING_S = 3600.0
SECRET_REPLAY = envelope.error(
    ErrorCode.invalid_operation,
    "a call with this idempotency key already succeeded; its reply held a secret and is not kept",
)


class Service:
    def __init__(
        self, name: str, settings: Settings, migrations: Path, *, uses_rpc: bool = False
    ) -> None:
        self.name = name
        self.settings = settings
        self.topology = settings.topology
        self.log = logging.getLogger(f"gatehouse.{name}")
        self.broker = make_broker(settings)
        self.migrations = migrations
        self.rpc = (
            RpcClient(
                settings.amqp_url.get_secret_value(),
                self.topology,
                timeout_s=settings.rpc_timeout_s,
                propagate_trace=settings.otel_enabled,
            )
            if uses_rpc
            else None
        )
        self._pool: asyncpg.Pool | None = None
        self.publisher = Publisher(
            settings.amqp_url.get_secret_value(), trace=settings.otel_enabled
        )
        self._idempotency: IdempotencyStore | None = None
        self._replies: Replies | None = None
        self.dead_lettered: list[str] = []
        # Queues declared while running rather than by a subscriber (the notifier's retry
        # delays), named here so that `gatehouse down --purge` finds them.
        self.extra_queues: list[str] = []
        self._on_start: list[Hook] = []
        self._on_stop: list[Hook] = []
        self._after_start: list[Hook] = []
        self._background: list[asyncio.Task[None]] = []
        self._checks: list[Check] = []
        self.http_routes: dict[str, HttpRoute] = {}
        self.commands: list[Command] = []
        self.retained: dict[str, Retention] = {}
        # Every schema has the runtime's tables, whether or not the service uses them.
        keys_ttl = timedelta(seconds=settings.idempotency_ttl_s)
        self.retain(
            "idempotency",
            lambda pool: idempotency.purge_expired(pool, keys_ttl),
            "a replay is answered from the stored reply for GATEHOUSE_IDEMPOTENCY_TTL_S",
        )
        self.retain(
            "outbox",
            purge_published,
            "published events are kept a week for inspection, unpublished ones until sent",
        )
        self.retain(
            "replies",
            lambda pool: replies.purge_expired(pool, keys_ttl),
            "a redelivered command is answered from its recorded reply for"
            " GATEHOUSE_IDEMPOTENCY_TTL_S",
        )
        self.background(self._housekeeping)

    # wiring -------------------------------------------------------------------------------

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._pool

    def on_start(self, hook: Hook) -> Hook:
        """Run after the pool and RPC client exist, before consuming starts."""
        self._on_start.append(hook)
        return hook

    def on_stop(self, hook: Hook) -> Hook:
        """Run after consuming stopped, before the pool closes."""
        self._on_stop.append(hook)
        return hook

    def background(self, factory: Callable[[], Awaitable[None]]) -> None:
        """A task that runs while the service consumes (an outbox relay, a purge loop)."""

        async def start() -> None:
            self._background.append(asyncio.create_task(factory(), name=f"{self.name}-bg"))

        self._after_start.append(start)

    def ready_when(self, check: Check) -> None:
        """Add `check`'s entries to `readiness()` (and so to `/readyz`)."""
        self._checks.append(check)

    def serve_http(self, path: str, route: HttpRoute) -> None:
        """Answer GET `path` on the health server's port (`GATEHOUSE_HTTP_PORT`)."""
        if path in self.http_routes:
            raise ValueError(f"{path} is already served")
        self.http_routes[path] = route

    def relay_events(self, *, poll_interval_s: float = 1.0) -> None:
        """Publish this service's outbox (see `services.runtime.outbox`) while it runs."""
        url = self.settings.database_url.get_secret_value()
        relay: OutboxRelay | None = None

        def run_relay() -> Awaitable[None]:
            nonlocal relay
            relay = OutboxRelay(
                self.pool,
                self.broker,
                self.topology.events,
                commands=self.topology.commands,
                listen=lambda: db.connect(url, self.name, "listen"),
                name=self.name,
                poll_interval_s=poll_interval_s,
            )
            return relay.run()

        def listening() -> dict[str, bool]:
            # Not listening means events wait for the poll: degraded, and worth a 503.
            return {f"{self.name}.outbox_listening": relay is not None and relay.listening}

        self.background(run_relay)
        self.ready_when(listening)

    def command(self, spec: Command, handler: Handler) -> None:
        """Serve one command: validate the body, run `handler`, always reply with an envelope."""
        queue_name = self.topology.command_queue(spec.routing_key)
        queue = work_queue(self.settings, queue_name, spec.routing_key)
        self.dead_lettered.append(queue_name)
        self.commands.append(spec)

        async def on_message(message: RabbitMessage) -> None:
            reply = await self.answer(spec, handler, message)
            if message.reply_to:
                await self.publisher.reply(message.reply_to, message.correlation_id, reply)

        self.broker.subscriber(
            queue,
            topic_exchange(self.topology.commands),
            decoder=raw_message,
            no_reply=True,
            title=spec.routing_key,
            description=spec.summary,
        )(on_message)

    def consumer(
        self, queue: RabbitQueue, exchange: str, handler: Callable[[RabbitMessage], Awaitable[None]]
    ) -> None:
        """Consume a non-RPC queue (events, deliveries) with a dead-letter queue of its own."""
        self.dead_lettered.append(queue.name)
        self.broker.subscriber(queue, topic_exchange(exchange), decoder=raw_message, no_reply=True)(
            handler
        )

    def event(self, spec: Event, consumer_name: str, handler: EventHandler) -> None:
        """Consume one event type (see `services.runtime.events`): `handler` gets the typed
        `CloudEvent`; a body that does not parse is dead-lettered, counted and logged."""
        queue_name = self.topology.consumer_queue(self.name, consumer_name)
        consume = event_consumer(
            spec,
            f"{self.name}.{consumer_name}",
            handler,
            self.log,
            broker_counts_deliveries=self.settings.queue_type == "quorum",
        )
        self.consumer(
            work_queue(self.settings, queue_name, spec.routing_key), self.topology.events, consume
        )

    def retain(self, table: str, purge: Purge, why: str) -> None:
        """Declare how the rows of `table` (in this service's schema) expire: housekeeping
        runs `purge` every HOUSEKEEPING_S (see `services.runtime.retention`)."""
        if table in self.retained:
            raise ValueError(f"{table} already has a purge")
        self.retained[table] = Retention(table, purge, why)

    async def purge_retained(self) -> dict[str, int]:
        """Run every registered purge once; returns the rows removed per table."""
        return await purge_all(self.pool, self.retained.values(), self.log)

    async def _housekeeping(self) -> None:
        while True:
            await self.purge_retained()
            await asyncio.sleep(HOUSEKEEPING_S)

    # handling -----------------------------------------------------------------------------

    async def answer(self, spec: Command, handler: Handler, message: RabbitMessage) -> bytes:
        token = correlation_id.set(message.correlation_id)
        try:
            reply = await self._answer(spec, handler, message)
        except Exception as exc:  # the last line of defence: the caller always gets a reply
            self.log.error(
                "%s failed before its handler ran: %s at %s",
                spec.routing_key,
                type(exc).__name__,
                raised_at(exc),
            )
            reply = envelope.internal_error()
        finally:
            correlation_id.reset(token)
        count_command(spec.routing_key, envelope.outcome(reply))
        return reply

    async def _answer(self, spec: Command, handler: Handler, message: RabbitMessage) -> bytes:
        body = message.body
        if len(body) > self.settings.max_message_bytes:
            return envelope.error(
                ErrorCode.invalid_params,
                f"body: message is larger than {self.settings.max_message_bytes} bytes",
                fields=[{"field": "body", "message": "message too large"}],
            )
        try:
            request = spec.request.model_validate_json(body)
        except ValidationError as exc:
            return envelope.invalid_params(exc)
        # FastStream invents a message id when there is none: read the one the caller sent.
        message_id = message.raw_message.message_id
        if message_id is not None and not replies.valid_message_id(message_id):
            return envelope.error(
                ErrorCode.invalid_params,
                f"message_id: must be 1 to {replies.MAX_MESSAGE_ID} characters, without NUL",
                fields=[{"field": "message_id", "message": "invalid"}],
            )
        once = None
        if message_id is not None and not spec.read_only:
            # Keyed by the request as understood, so a re-sent message spelled another way
            # (key order, spacing) is still the same request.
            canonical = request.model_dump_json().encode()
            once = Once(spec.routing_key, message_id, self.replies, canonical)
            if (recorded := await once.recorded()) is not None:
                return recorded
        key = (message.headers or {}).get(IDEMPOTENCY_HEADER)
        if key is None:
            return await self._run(spec, handler, request, message_id, once)
        return await self._run_once(spec, handler, request, str(key), message_id, once)

    async def _run(
        self,
        spec: Command,
        handler: Handler,
        request: BaseModel,
        message_id: str | None,
        once: "Once | None",
    ) -> bytes:
        """Run the handler in a unit of work; commit its effect together with its reply."""
        unit = Work(self.pool, message_id)
        token = work.current.set(unit)
        try:
            try:
                reply = envelope.ok(await handler(request))
            except GatehouseError as exc:
                await unit.rollback()
                reply = envelope.from_exception(exc)
            finally:
                work.current.reset(token)
            if once is None:
                await unit.commit(_nothing)
                return reply
            try:
                await unit.commit(partial(once.record, reply=reply))
            except replies.Duplicate:
                # Another delivery of this message committed first; ours rolled back.
                return await once.recorded() or envelope.internal_error()
            return reply
        except Exception as exc:
            # Type and place only: an exception's text can carry the values of the query
            # that failed.
            self.log.error(
                "%s failed with %s at %s", spec.routing_key, type(exc).__name__, raised_at(exc)
            )
            return envelope.internal_error()
        finally:
            await unit.rollback()  # a no-op once committed; frees the connection otherwise

    async def _run_once(
        self,
        spec: Command,
        handler: Handler,
        request: BaseModel,
        key: str,
        message_id: str | None,
        once: "Once | None",
    ) -> bytes:
        if not key or len(key) > MAX_IDEMPOTENCY_KEY or "\x00" in key:
            return envelope.error(
                ErrorCode.invalid_params,
                f"{IDEMPOTENCY_HEADER}: must be 1 to {MAX_IDEMPOTENCY_KEY} characters, without NUL",
                fields=[{"field": IDEMPOTENCY_HEADER, "message": "invalid"}],
            )
        store = self._idempotency
        assert store is not None
        # Scoped by command only. Nothing derived from the body is kept: a login's body holds
        # a password, and a fast hash of it at rest could be brute-forced offline.
        if not await store.claim(spec.routing_key, key):
            stored = await store.stored_reply(
                spec.routing_key, key, wait_s=self.settings.rpc_timeout_s
            )
            if stored is not None:
                return stored
            return envelope.error(
                ErrorCode.invalid_operation, "a call with this idempotency key is still running"
            )
        reply = await self._run(spec, handler, request, message_id, once)
        outcome = envelope.outcome(reply)
        if outcome == ErrorCode.internal_error:
            await store.release(spec.routing_key, key)
        elif spec.secret_reply and outcome == "ok":
            # Never keep a session token at rest: a replay learns the call happened, not its
            # secret, and nothing runs twice.
            await store.save(spec.routing_key, key, SECRET_REPLAY)
        else:
            await store.save(spec.routing_key, key, reply)
        return reply

    def transaction(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """The transaction of a state change (see `services.runtime.work`): inside a command,
        every block joins the command's one transaction, committed with its reply after the
        handler returns, so no network call may follow the block in a handler."""
        return work.transaction(self.pool)

    @property
    def replies(self) -> Replies:
        if self._replies is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._replies

    # lifecycle ----------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Connect all but the consumers: pool, migrations, RPC client, dead-letter queues."""
        url = self.settings.database_url.get_secret_value()
        self._pool = await db.create_pool(url, self.name, max_size=self.settings.db_pool_max)
        await db.migrate(self._pool, self.name, self.migrations)
        mac_key, seal_key = self.settings.reply_keys
        self._replies = Replies(self._pool, mac_key, seal_key)
        self._idempotency = IdempotencyStore(
            self._pool,
            ttl=timedelta(seconds=self.settings.idempotency_ttl_s),
            stale_claim=timedelta(seconds=max(60.0, 3 * self.settings.rpc_timeout_s)),
        )
        if self.rpc is not None:
            await self.rpc.connect()
        await self.publisher.connect()
        await self.broker.connect()
        for exchange in self.topology.exchanges():
            await self.broker.declare_exchange(topic_exchange(exchange))
        for queue in self.dead_lettered:
            await declare_dead_letter(self.broker, self.settings, queue)
        for hook in self._on_start:
            await hook()

    async def started(self) -> None:
        for hook in self._after_start:
            await hook()

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background.clear()
        for hook in self._on_stop:
            await hook()
        if self.rpc is not None:
            await self.rpc.close()
        await self.publisher.close()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def start(self) -> None:
        await self.prepare()
        await self.broker.start()
        await self.started()

    async def stop(self) -> None:
        await self.broker.stop()
        await self.close()

    async def readiness(self) -> dict[str, bool]:
        """Broker connected, database reachable, this service's migrations all applied, and
        whatever `ready_when` added (the outbox relay listening)."""
        broker_ok = await self.broker.ping(timeout=2)
        try:
            pending = await db.pending_migrations(self.pool, self.name, self.migrations)
            db_ok, migrated = True, not pending
        except Exception:
            db_ok = migrated = False
        checks = {
            f"{self.name}.broker": broker_ok,
            f"{self.name}.database": db_ok,
            f"{self.name}.migrations": migrated,
        }
        for check in self._checks:
            checks.update(check())
        return checks

    def app(self) -> FastStream:
        """The FastStream app for running this service alone, with its health server."""
        logs.configure(self.settings.log_level, self.settings.log_json)
        health = HealthServer(self.settings.http_port, [self.readiness], routes=self.http_routes)
        return FastStream(
            self.broker,
            on_startup=[self.prepare, health.start],
            after_startup=[self.started],
            after_shutdown=[self.close, health.stop],
        )


class Once:
    """One delivery of a state-changing command with a message id: where its reply is kept."""

    def __init__(self, routing_key: str, message_id: str, store: Replies, body: bytes) -> None:
        self.routing_key = routing_key
        self.message_id = message_id
        self.store = store
        self.mac = store.request_mac(routing_key, message_id, body)

    async def recorded(self) -> bytes | None:
        return await self.store.find(self.routing_key, self.message_id, self.mac)

    async def record(self, con: Conn, *, reply: bytes) -> None:
        await self.store.record(con, self.routing_key, self.message_id, self.mac, reply)


async def _nothing(_: Conn) -> None:
    return None


def lazy_app(build: Callable[[Settings], Service]) -> Callable[[str], FastStream]:
    """A module `__getattr__` that builds the service's FastStream app when `app` is read."""

    def module_getattr(name: str) -> FastStream:
        if name == "app":
            return build(Settings()).app()
        raise AttributeError(name)

    return module_getattr


def run(main: Awaitable[None]) -> None:
    """Run a service coroutine on uvloop where available, as `faststream run` does."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        asyncio.run(main)  # type: ignore[arg-type]
    else:
        uvloop.run(main)  # type: ignore[arg-type]
