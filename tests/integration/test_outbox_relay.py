"""The outbox relay heals its LISTEN connection on the real database (issue 12).

The relay here polls every POLL_S, longer than any wait in these tests: an event that
arrives within a wait was woken by LISTEN (or by the relay's reconnection), never by the
poll. The database is this module's own, because one test refuses it new connections to
keep the relay from reconnecting; the shared PostgreSQL itself is never stopped.
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from prometheus_client import REGISTRY

from contracts.events import v1 as events
from services.ops import scratch
from services.runtime import db, outbox
from services.runtime.health import HealthServer
from services.runtime.service import Service
from tests import infra
from tests.identity_support import EventTap, tap
from tests.infra import RUN_ID
from tests.support import eventually, running

NAME = "relaytest"
APPLICATION = f"gatehouse-{NAME}-listen"
POLL_S = 300.0
ARRIVES_S = 10.0  # far below POLL_S: only LISTEN delivers this fast


@dataclass
class Relay:
    service: Service
    seen: EventTap
    admin_url: str
    database: str

    async def commit_event(self, user_id: str) -> None:
        event = outbox.cloud_event(
            events.user_registered,
            events.UserRegistered(user_id=user_id),
            source="gatehouse/relaytest",
            subject=user_id,
        )
        async with self.service.pool.acquire() as con, con.transaction():
            await outbox.enqueue(con, event)

    async def arrives(self, user_id: str) -> None:
        await self.seen.event(events.user_registered.routing_key, user_id, wait_s=ARRIVES_S)

    async def admin(self, sql: str, *args: object) -> object:
        con = await asyncpg.connect(self.admin_url)
        try:
            return await con.fetchval(sql, *args)
        finally:
            await con.close()

    async def terminate_listener(self) -> None:
        """Kill the relay's backend, found by its application name and its `LISTEN` query."""
        killed = await self.admin(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = $1 AND application_name = $2 AND query ILIKE 'LISTEN%'",
            self.database,
            APPLICATION,
        )
        assert killed == 1

    async def allow_connections(self, allowed: bool) -> None:
        await self.admin(f'ALTER DATABASE "{self.database}" WITH ALLOW_CONNECTIONS {allowed}')

    async def listening(self) -> bool:
        return (await self.service.readiness())[f"{NAME}.outbox_listening"]

    async def deaf(self) -> bool:
        return not await self.listening()


@pytest.fixture
async def relay(infrastructure, make_settings, tmp_path: Path) -> AsyncIterator[Relay]:
    _, admin = infrastructure
    database = f"gatehouse_test_{RUN_ID}_relay"
    url = infra.database_url(admin, database)
    await db.ensure_database(url)
    settings = make_settings(database_url=url)
    service = Service(NAME, settings, tmp_path)  # the runtime's migrations: the outbox
    service.relay_events(poll_interval_s=POLL_S)
    env = Relay(service, None, admin, database)  # type: ignore[arg-type]  # tap set below
    try:
        async with running(service), tap(settings, settings.topology.events) as seen:
            env.seen = seen
            await eventually(env.listening)
            yield env
    finally:
        await env.allow_connections(True)
        await scratch.drop_database(admin, database)


def _lost_count() -> float:
    value = REGISTRY.get_sample_value("gatehouse_outbox_listen_lost_total", {"service": NAME})
    return value or 0.0


async def test_events_arrive_by_listen_not_by_the_poll(relay: Relay):
    await relay.commit_event("u_before")
    await relay.arrives("u_before")


async def test_a_terminated_listen_backend_is_replaced_and_events_arrive_in_milliseconds_again(
    relay: Relay,
):
    lost = _lost_count()
    await relay.terminate_listener()
    await eventually(lambda: _lost_count() == lost + 1, timeout_s=ARRIVES_S)
    await eventually(relay.listening, timeout_s=ARRIVES_S)
    # A new backend took its place, listening under the same name.
    assert await relay.admin(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
        relay.database,
        APPLICATION,
    )
    await relay.commit_event("u_after_terminate")
    await relay.arrives("u_after_terminate")


async def test_while_the_database_refuses_the_relay_it_reports_not_listening_and_warns_once(
    relay: Relay, caplog: pytest.LogCaptureFixture
):
    health = HealthServer(0, [relay.service.readiness], host="127.0.0.1")
    await health.start()
    lost = _lost_count()
    try:
        await relay.allow_connections(False)
        with caplog.at_level(logging.DEBUG, logger="gatehouse.listener"):
            await relay.terminate_listener()
            await eventually(relay.deaf, timeout_s=ARRIVES_S)
            status, checks = await _get_readyz(health.port)
            assert status == 503
            assert checks[f"{NAME}.outbox_listening"] is False
            # Several reconnects fail (backoff from 50 ms): one warning and one count for all.
            await eventually(lambda: _failed_reconnects(caplog) >= 3, timeout_s=ARRIVES_S)
            # Committed while nobody listens: it goes out as soon as the relay listens again.
            await relay.commit_event("u_during_outage")
            await relay.allow_connections(True)
            await eventually(relay.listening, timeout_s=ARRIVES_S)
        await relay.arrives("u_during_outage")
        warnings = [
            r
            for r in caplog.records
            if r.name == "gatehouse.listener" and r.levelno == logging.WARNING
        ]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]
        assert _lost_count() == lost + 1
        status, checks = await _get_readyz(health.port)
        assert status == 200
        assert checks[f"{NAME}.outbox_listening"] is True
        await relay.commit_event("u_after_outage")
        await relay.arrives("u_after_outage")
    finally:
        await health.stop()


def _failed_reconnects(caplog: pytest.LogCaptureFixture) -> int:
    return sum("reconnect failed" in r.getMessage() for r in caplog.records)


async def _get_readyz(port: int) -> tuple[int, dict[str, bool]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /readyz HTTP/1.1\r\nHost: test\r\n\r\n")
    await writer.drain()
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)
