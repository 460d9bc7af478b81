"""Identity events through the outbox survive a relay that dies mid-batch."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import aio_pika
import pytest

from contracts.events import v1 as events
from contracts.identity import v1
from gatehouse.rpc import RpcClient
from services.identity.app import build as build_identity
from services.identity.views import SOURCE
from services.ops.system import SystemSettings
from services.runtime import outbox
from services.runtime.relay import OutboxRelay
from services.verification.app import build as build_verification
from tests.identity_support import PASSWORD, EventTap, env_settings, tap
from tests.support import call, eventually, random_username


class FlakyBroker:
    """Confirms every other publish; the rest fail as if the connection dropped."""

    def __init__(self, broker: Any) -> None:
        self._broker = broker
        self._calls = 0

    async def publish(self, *args: Any, **kwargs: Any) -> Any:
        self._calls += 1
        if self._calls % 2 == 0:
            raise ConnectionError("broker went away")
        return await self._broker.publish(*args, **kwargs)


class HangingBroker:
    """Never confirms: the relay is killed while it waits."""

    def __init__(self) -> None:
        self.waiting = asyncio.Event()

    async def publish(self, *args: Any, **kwargs: Any) -> Any:
        self.waiting.set()
        await asyncio.Event().wait()


async def publish_marker(settings: SystemSettings) -> str:
    """Publish a non-event body on the events exchange; returns the id it carries."""
    marker = f"marker-{uuid.uuid4().hex}"
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(settings.topology.events, ensure=False)
        await exchange.publish(aio_pika.Message(json.dumps({"id": marker}).encode()), "test.marker")
    return marker


async def test_a_relay_killed_mid_batch_publishes_every_committed_event_once_later(
    make_settings,
):
    settings = env_settings(make_settings)
    identity, verification = build_identity(settings), build_verification(settings)
    await verification.start()
    # Everything but `started()`, which is what launches the service's own relay.
    await identity.prepare()
    await identity.broker.start()
    try:
        async with (
            tap(settings, settings.topology.events) as seen,
            RpcClient(settings.amqp_url.get_secret_value(), settings.topology) as rpc,
        ):
            # One database serves the whole test run, so rows another namespace's service left
            # unpublished at its stop share this outbox; they are not this test's business.
            await identity.pool.execute(
                "UPDATE outbox SET published_at = now() WHERE published_at IS NULL"
            )
            for _ in range(6):
                body = {"username": random_username(), "password": PASSWORD}
                assert (await call(rpc, v1.register, body))["ok"]
            async with identity.pool.acquire() as con:
                with pytest.raises(RuntimeError):
                    async with con.transaction():
                        event = outbox.cloud_event(
                            events.user_registered,
                            events.UserRegistered(user_id="u_rolled_back"),
                            source=SOURCE,
                            subject="u_rolled_back",
                        )
                        await outbox.enqueue(con, event)
                        raise RuntimeError("the change fails after its event was written")
            rows = await identity.pool.fetch(
                "SELECT event_id, routing_key, body FROM outbox WHERE published_at IS NULL"
            )
            committed = {str(r["event_id"]): json.loads(bytes(r["body"])) for r in rows}
            assert len(committed) == 6
            assert event.id not in committed

            # First relay: half of a batch is confirmed, then the broker is gone.
            flaky = OutboxRelay(
                identity.pool, FlakyBroker(identity.broker), settings.topology.events, batch_size=4
            )
            with pytest.raises(ConnectionError):
                await flaky.publish_batch()
            published = await identity.pool.fetchval(
                "SELECT count(*) FROM outbox"
                " WHERE published_at IS NOT NULL AND event_id = ANY($1::uuid[])",
                [r["event_id"] for r in rows],
            )
            assert published == 2

            # Second relay: stopped while waiting for confirms; it hands its lease back.
            hanging = HangingBroker()
            relay = asyncio.create_task(
                OutboxRelay(identity.pool, hanging, settings.topology.events).run()
            )
            await asyncio.wait_for(hanging.waiting.wait(), 10)
            relay.cancel()
            await asyncio.gather(relay, return_exceptions=True)

            # Restart: the service's own relay drains the rest.
            await identity.started()
            await seen.wait_for(lambda _: len({m["id"] for m in seen.bodies()}) >= 6)
            # Barrier: a row is marked published only once the broker confirmed it, that is
            # queued it at the tap. When none is left unmarked, a marker published now reaches
            # the tap after every copy of every event the relays ever published.
            await eventually(
                lambda: identity.pool.fetchval(
                    "SELECT count(*) = 0 FROM outbox WHERE published_at IS NULL"
                )
            )
            marker = await publish_marker(settings)
            await seen.wait_for(lambda body: body.get("id") == marker)
            by_id: dict[str, list[dict]] = {}
            for body in seen.bodies():
                if body.get("id") != marker:
                    by_id.setdefault(body["id"], []).append(body)
            assert set(by_id) == set(committed)
            assert all(len(copies) == 1 for copies in by_id.values())
            assert all(by_id[i][0] == committed[i] for i in committed)
            assert "u_rolled_back" not in json.dumps(seen.bodies())
    finally:
        await identity.stop()
        await verification.stop()


@asynccontextmanager
async def relays_driven_by_hand(
    make_settings: Any,
) -> AsyncIterator[tuple[SystemSettings, Any, EventTap]]:
    """Identity prepared but without a relay of its own (the test drives the relays), a tap on
    the events exchange, and an outbox with nothing pending from other namespaces' runs."""
    settings = env_settings(make_settings)
    identity = build_identity(settings)
    await identity.prepare()
    await identity.broker.start()
    try:
        async with tap(settings, settings.topology.events) as seen:
            # One database serves the whole test run: rows another namespace's service left
            # unpublished are not this test's business.
            await identity.pool.execute(
                "UPDATE outbox SET published_at = now() WHERE published_at IS NULL"
            )
            yield settings, identity, seen
    finally:
        await identity.stop()


async def _unpublished_events(identity: Any, n: int) -> list[str]:
    """Commit `n` events straight into the outbox; returns their ids."""
    ids = []
    async with identity.pool.acquire() as con, con.transaction():
        for _ in range(n):
            user_id = f"u_{uuid.uuid4().hex[:12]}"
            event = outbox.cloud_event(
                events.user_registered,
                events.UserRegistered(user_id=user_id),
                source=SOURCE,
                subject=user_id,
            )
            await outbox.enqueue(con, event)
            ids.append(event.id)
    return ids


async def test_a_batch_leased_by_a_killed_relay_waits_for_its_lease_then_goes_out_once(
    make_settings,
):
    async with relays_driven_by_hand(make_settings) as (settings, identity, seen):
        ids = await _unpublished_events(identity, 3)
        # What a relay does before it is killed with kill -9: it leased the batch, and
        # nobody hands the lease back.
        dead, survivor = (
            OutboxRelay(identity.pool, identity.broker, settings.topology.events, lease_s=60)
            for _ in range(2)
        )
        leased = await dead.claim()
        assert {str(r["event_id"]) for r in leased} == set(ids)
        lease_ends = await identity.pool.fetch(
            "SELECT next_attempt_at - now() AS left FROM outbox WHERE id = ANY($1::bigint[])",
            [r["id"] for r in leased],
        )
        assert all(timedelta(seconds=50) < r["left"] <= timedelta(seconds=60) for r in lease_ends)

        assert await survivor.publish_batch() == 0  # still the dead relay's
        # The minute passes without waiting for it: the lease's end moves into the past.
        await identity.pool.execute(
            "UPDATE outbox SET next_attempt_at = now() - interval '1 second'"
            " WHERE id = ANY($1::bigint[])",
            [r["id"] for r in leased],
        )
        await eventually(lambda: _published_some(survivor))
        await eventually(
            lambda: identity.pool.fetchval(
                "SELECT count(*) = 0 FROM outbox WHERE published_at IS NULL"
            )
        )
        marker = await publish_marker(settings)
        await seen.wait_for(lambda body: body.get("id") == marker)
        arrived = [b["id"] for b in seen.bodies() if b.get("id") != marker]
        assert sorted(arrived) == sorted(ids)


async def _published_some(relay: OutboxRelay) -> bool:
    return await relay.publish_batch() > 0


async def test_relays_racing_over_one_outbox_publish_every_event_exactly_once(make_settings):
    async with relays_driven_by_hand(make_settings) as (settings, identity, seen):
        ids = await _unpublished_events(identity, 300)
        relays = [
            OutboxRelay(identity.pool, identity.broker, settings.topology.events, batch_size=7)
            for _ in range(4)
        ]

        async def drain(relay: OutboxRelay) -> None:
            while await relay.publish_batch():
                pass

        await asyncio.gather(*(drain(r) for r in relays))
        assert (
            await identity.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            == 0
        )
        marker = await publish_marker(settings)
        await seen.wait_for(lambda body: body.get("id") == marker)
        arrived = [b["id"] for b in seen.bodies() if b.get("id") != marker]
        assert len(arrived) == len(ids)
        assert set(arrived) == set(ids)
