"""A Gatehouse service: its broker, its database schema, its command subscribers.

The same object runs under `faststream run services.<name>.app:app` (through `app()`) and
inside `gatehouse up` next to the other services (through `start()` / `stop()`).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from faststream.rabbit import RabbitMessage, RabbitQueue

from contracts.topology import Command, Event, Req, Res
from gatehouse._broker import make_broker, raw_message
from gatehouse._publisher import Publisher
from gatehouse.rpc import RpcClient
from services.runtime import db, retention, work
from services.runtime.broker import declare_dead_letter, topic_exchange, work_queue
from services.runtime.commands import Answerer, Handler
from services.runtime.events import EventHandler, event_consumer
from services.runtime.health import HttpRoute
from services.runtime.idempotency import IdempotencyStore
from services.runtime.recorded_replies import Replies, Sealer
from services.runtime.relay import OutboxRelay
from services.runtime.retention import Purge, Retention, purge_all, runtime_tables
from services.runtime.settings import Settings
from services.runtime.work import UnitOfWork

Hook = Callable[[], Awaitable[None]]
Check = Callable[[], dict[str, bool]]


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
                message_ids=work.child_message_id,
                guard=work.forbid_network,
                name=f"gatehouse-{name}-rpc",
            )
            if uses_rpc
            else None
        )
        self._pool: asyncpg.Pool | None = None
        self.publisher = Publisher(
            settings.amqp_url.get_secret_value(),
            trace=settings.otel_enabled,
            guard=work.forbid_network,
        )
        self._replies: Replies | None = None
        self._answerer: Answerer | None = None
        self.dead_lettered: list[str] = []
        # Queues declared while running rather than by a subscriber (the notifier's retry
        # delays), named here so that `gatehouse down --purge` finds them.
        self.extra_queues: list[str] = []
        self._on_start: list[Hook] = []
        self._on_stop: list[Hook] = []
        self._after_start: list[Hook] = []
        self._background: list[asyncio.Task[None]] = []
        self._checks: list[Check] = []
        self._consuming = False
        self.http_routes: dict[str, HttpRoute] = {}
        self.commands: list[Command[Any, Any]] = []
        self.retained: dict[str, Retention] = {}
        for table in runtime_tables(settings):  # in every schema, used or not
            self.retain(table.table, table.purge, table.why)
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

    def background(self, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
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

        def run_relay() -> Coroutine[Any, Any, None]:
            nonlocal relay
            relay = OutboxRelay(
                self.pool,
                self.broker,
                self.topology.events,
                topology=self.topology,
                listen=lambda: db.connect(
                    url, self.name, "listen", namespace=self.settings.namespace
                ),
                name=self.name,
                poll_interval_s=poll_interval_s,
            )
            return relay.run()

        def listening() -> dict[str, bool]:
            # Not listening means events wait for the poll: degraded, and worth a 503.
            return {f"{self.name}.outbox_listening": relay is not None and relay.listening}

        self.background(run_relay)
        self.ready_when(listening)

    def command(
        self, spec: Command[Req, Res], handler: Callable[[UnitOfWork, Req], Awaitable[Res]]
    ) -> None:
        """Serve one command: validate the body, run `handler` with the command's unit of work
        (`services.runtime.work`), always reply with an envelope."""
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
            topic_exchange(self.topology.command_exchange(spec)),
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

    def event(self, spec: Event[Any], consumer_name: str, handler: EventHandler) -> None:
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
        runs `purge` every `retention.HOUSEKEEPING_S` (see `services.runtime.retention`)."""
        if table in self.retained:
            raise ValueError(f"{table} already has a purge")
        self.retained[table] = Retention(table, purge, why)

    async def purge_retained(self) -> dict[str, int]:
        """Run every registered purge once; returns the rows removed per table."""
        return await purge_all(self.pool, self.retained.values(), self.log)

    async def _housekeeping(self) -> None:
        while True:
            await self.purge_retained()
            await asyncio.sleep(retention.HOUSEKEEPING_S)

    # handling -----------------------------------------------------------------------------

    async def answer(
        self, spec: Command[Any, Any], handler: Handler, message: RabbitMessage
    ) -> bytes:
        """The reply to one command message (see `services.runtime.commands`)."""
        if self._answerer is None:
            raise RuntimeError(f"{self.name} is not started")
        return await self._answerer.answer(spec, handler, message)

    @property
    def replies(self) -> Replies:
        if self._replies is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._replies

    # lifecycle ----------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Connect all but the consumers: pool, migrations, RPC client, dead-letter queues."""
        # Before connecting anything: prod mode without GATEHOUSE_REPLY_KEY stops here.
        sealer = Sealer(self.settings.record_keys(self.name))
        url = self.settings.database_url.get_secret_value()
        self._pool = await db.create_pool(
            url, self.name, namespace=self.settings.namespace, max_size=self.settings.db_pool_max
        )
        await db.migrate(self._pool, self.name, self.migrations)
        self._replies = Replies(self._pool, sealer)
        keys = IdempotencyStore(
            self._pool,
            sealer,
            ttl=timedelta(seconds=self.settings.idempotency_ttl_s),
            stale_claim=timedelta(seconds=max(60.0, 3 * self.settings.rpc_timeout_s)),
        )
        self._answerer = Answerer(self.settings, self.log, self._pool, self._replies, keys)
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
        self._consuming = True

    async def close(self) -> None:
        self._consuming = False
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
            # Until then commands would come back `unknown_command`: nothing consumes yet.
            f"{self.name}.consuming": self._consuming,
        }
        for check in self._checks:
            checks.update(check())
        return checks
