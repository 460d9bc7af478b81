"""How long a lifecycle event takes from its commit to a consumer, through the outbox, at a
load stated as a share of what identity manages here; and how fast the relay drains a filled
outbox, against raw publish-with-confirm.

    python3 -m benchmarks.events  # last line: {"name": "events", "ours", "reference", "ratio"}

Identity runs in a process of its own. First a burst of `BURST` changes (`save_properties`,
64 at a time) measures its capacity on this machine, and how long until the last event has
arrived. Then this process sends `save_properties` open loop (a send is not held back by a
slow reply) at `FRACTION` of that capacity for `SECONDS`, and consumes
`user.properties_updated.v1` from a queue bound to the events exchange: a lag measured at
a fixed rate near capacity swings with whatever else runs on the machine. One clock:
both processes are on this machine, and each event's CloudEvents `time` is set in the
service's transaction, a moment before its commit, so the lag read here is commit → consumer
plus that moment. The reference is what the broker alone does at the same rate: a publish
with a confirm, stamped with the time, consumed by the same kind of consumer.

`ours` is our p99 in ms, `reference` the 20 ms budget, `ratio` budget / p99 (target >= 1).

The drain: `DRAIN` events written straight into an outbox, then published by our
`OutboxRelay` (its lease, publish and mark, batch after batch, as after an outage) in this
process; the reference publishes the same bodies with raw aio-pika, confirmed, `BATCH` at
a time, to the same exchange and queue; alternating rounds, the best of each.
`drain_ratio` is relay / raw (issue 27's goal: >= 0.8).
"""

import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

import aio_pika

from benchmarks.common import (
    AMQP_URL,
    delete_namespace,
    fresh_names,
    server,
    service_settings,
    serving,
    temporary_database,
)
from contracts.events import v1 as events
from contracts.identity import v1
from contracts.topology import Topology
from gatehouse._broker import make_broker
from gatehouse._loop import run as run_service
from gatehouse.rpc import RpcClient
from services.runtime import db
from services.runtime.relay import OutboxRelay

MODULE = "benchmarks.events"
FRACTION = float(os.environ.get("BENCH_EVENTS_FRACTION", "0.5"))
SECONDS = float(os.environ.get("BENCH_EVENTS_SECONDS", "30"))
BURST = int(os.environ.get("BENCH_EVENTS_BURST", "3000"))
DRAIN = int(os.environ.get("BENCH_EVENTS_DRAIN", "5000"))
DRAIN_ROUNDS = 3
BATCH = 100  # the relay's batch
BUDGET_MS = 20.0
DRAIN_GOAL = 0.8
USERS = 50


async def serve(namespace: str, database_url: str) -> None:
    from services.identity.app import build

    service = build(service_settings(namespace, database_url))
    await service.start()
    await serving()


def percentiles(lags: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(lags, n=100)
    return cuts[49], cuts[94], cuts[98]


class Tap:
    """A consumer of one routing key that notes when each message arrived."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, bytes]] = []
        self.arrived = asyncio.Event()

    async def bind(self, channel: aio_pika.abc.AbstractChannel, exchange: str, key: str) -> None:
        ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(ex, key)
        await queue.consume(self.on_message, no_ack=True)

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.arrivals.append((time.time(), message.body))
        self.arrived.set()

    async def wait_for(self, count: int, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.arrivals) < count and time.monotonic() < deadline:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), max(0.01, deadline - time.monotonic()))


async def open_loop(
    rate: int, seconds: float, fire: Callable[[], Coroutine[Any, Any, None]]
) -> None:
    """Start `fire()` every 1/rate s for `seconds`, without waiting for the ones before."""
    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter()
    for n in range(int(rate * seconds)):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(fire()))
    await asyncio.gather(*tasks)


async def measure() -> None:
    namespace, database_url = fresh_names()
    try:
        async with temporary_database(database_url):
            await _measure(namespace, database_url)
    finally:
        await delete_namespace(namespace)


async def _measure(namespace: str, database_url: str) -> None:
    topology = Topology(namespace)
    key = events.user_properties_updated.routing_key
    connection = await aio_pika.connect_robust(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        ours = Tap()
        await ours.bind(channel, topology.events, key)
        with server(MODULE, "--serve", namespace, database_url):
            rpc = RpcClient(AMQP_URL, topology, timeout_s=60)
            await rpc.connect()
            tokens = []
            for i in range(USERS):
                body = {"username": f"bench_ev_{i}", "password": "benchmark-password-1"}
                reply = await rpc.call(v1.register, {**body, "login": True})
                tokens.append(reply["result"]["session"]["token"])
            counter = iter(range(10**9))

            async def change() -> None:
                n = next(counter)
                body = {"token": tokens[n % USERS], "properties": {"n": n}}
                reply = await rpc.call(v1.save_properties, body)
                assert reply["ok"], reply

            sem = asyncio.Semaphore(64)

            async def bounded() -> None:
                async with sem:
                    await change()

            async def burst(count: int) -> float:
                """Replies/s of `count` changes, 64 at a time; waits for their events."""
                ours.arrivals.clear()
                started = time.perf_counter()
                await asyncio.gather(*(bounded() for _ in range(count)))
                replies_s = time.perf_counter() - started
                await ours.wait_for(count, timeout_s=300)
                return count / replies_s

            await burst(200)  # warm-up: connections, prepared statements
            burst_started = time.time()
            capacity = await burst(BURST)
            burst_s = ours.arrivals[-1][0] - burst_started
            rate = max(1, round(FRACTION * capacity))
            await asyncio.sleep(1)  # let the burst's writes settle
            ours.arrivals.clear()
            await open_loop(rate, SECONDS, change)
            await ours.wait_for(int(rate * SECONDS))
            lags = [
                (arrived - datetime.fromisoformat(json.loads(body)["time"]).timestamp()) * 1000
                for arrived, body in ours.arrivals
            ]
            await rpc.close()

        reference = Tap()
        raw_exchange = f"{namespace}.raw-events"
        await reference.bind(channel, raw_exchange, "stamp")
        confirmed = await connection.channel(publisher_confirms=True)
        ex = await confirmed.get_exchange(raw_exchange, ensure=False)

        async def stamp() -> None:
            body = json.dumps({"sent": time.time(), "id": uuid.uuid4().hex}).encode()
            await ex.publish(
                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key="stamp",
            )

        await open_loop(rate, SECONDS, stamp)
        await reference.wait_for(int(rate * SECONDS))
        raw_lags = [
            (arrived - json.loads(body)["sent"]) * 1000 for arrived, body in reference.arrivals
        ]
        await channel.exchange_delete(raw_exchange)
    # Identity has stopped: its relay must not take the rows the drain writes.
    relay_per_s, raw_per_s = await drain(namespace, database_url)
    p50, p95, p99 = percentiles(lags)
    r50, r95, r99 = percentiles(raw_lags)
    print(
        f"capacity {capacity:.0f} changes/s (burst of {BURST}, 64 at a time; last event after"
        f" {burst_s:.2f} s); at {FRACTION:g} of it, {rate} changes/s for {SECONDS:g} s,"
        f" commit -> consumer ms: p50 {p50:.1f}, p95 {p95:.1f}, p99 {p99:.1f}"
        f" ({len(lags)} events); raw publish-with-confirm -> consume at the same rate: p50"
        f" {r50:.1f}, p95 {r95:.1f}, p99 {r99:.1f}; a filled outbox of {DRAIN} drained at"
        f" {relay_per_s:.0f} events/s by the relay, raw publish-with-confirm"
        f" {raw_per_s:.0f}/s, ratio {relay_per_s / raw_per_s:.3f}",
        flush=True,
    )
    # A latency: the ratio is budget / p99, so above 1 is within the budget.
    line = {"name": "events", "ours": round(p99, 1), "reference": BUDGET_MS}
    line |= {"ratio": round(BUDGET_MS / p99, 3), "p50_ms": round(p50, 1), "p95_ms": round(p95, 1)}
    line |= {"raw_p99_ms": round(r99, 1), "capacity_per_s": round(capacity, 1)}
    line |= {"fraction": FRACTION, "rate_per_s": rate, "burst": BURST}
    line |= {"burst_s": round(burst_s, 2), "drain_per_s": round(relay_per_s, 1)}
    line |= {"raw_publish_per_s": round(raw_per_s, 1)}
    line |= {"drain_ratio": round(relay_per_s / raw_per_s, 3), "drain_goal": DRAIN_GOAL}
    print(json.dumps(line))


async def drain(namespace: str, database_url: str) -> tuple[float, float]:
    """Events/s of our relay draining `DRAIN` outbox rows, and of raw publish-with-confirm of
    the same bodies; the best of `DRAIN_ROUNDS` alternating rounds each."""
    settings = service_settings(namespace, database_url)
    topology = settings.topology
    pool = await db.create_pool(database_url, "identity", namespace=namespace)
    broker = make_broker(settings)
    connection = await aio_pika.connect(AMQP_URL)
    try:
        await broker.connect()
        relay = OutboxRelay(pool, broker, topology.events, topology=topology)
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(
            topology.events, aio_pika.ExchangeType.TOPIC, durable=True
        )
        # Where both land: a quorum queue, so a confirm means the event is stored.
        queue = await channel.declare_queue(
            f"{namespace}.drain-tap", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(exchange, DRAIN_KEY)
        body = json.dumps(
            {
                "specversion": "1.0",
                "id": str(uuid.uuid4()),
                "source": "gatehouse/identity",
                "type": DRAIN_KEY,
                "time": datetime.now().astimezone().isoformat(),
                "subject": "u_8Zk3fQ2b9xW1",
                "datacontenttype": "application/json",
                "data": {"user_id": "u_8Zk3fQ2b9xW1", "properties": {"n": 1}},
            }
        ).encode()

        async def raw_batch(count: int) -> None:
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(
                            body,
                            content_type="application/cloudevents+json",
                            message_id=str(uuid.uuid4()),
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        ),
                        routing_key=DRAIN_KEY,
                    )
                    for _ in range(count)
                )
            )

        best_relay = best_raw = 0.0
        for _ in range(DRAIN_ROUNDS):
            await pool.execute(
                "INSERT INTO outbox (event_id, routing_key, body)"
                " SELECT gen_random_uuid(), $1, $2 FROM generate_series(1, $3)",
                DRAIN_KEY,
                body,
                DRAIN,
            )
            started = time.perf_counter()
            while await relay.publish_batch() == BATCH:
                pass
            best_relay = max(best_relay, DRAIN / (time.perf_counter() - started))
            left = await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            assert left == 0, f"{left} rows left in the outbox"
            await queue.purge()
            started = time.perf_counter()
            for sent in range(0, DRAIN, BATCH):
                await raw_batch(min(BATCH, DRAIN - sent))
            best_raw = max(best_raw, DRAIN / (time.perf_counter() - started))
            await queue.purge()
        return best_relay, best_raw
    finally:
        await connection.close()
        await broker.stop()
        await pool.close()


DRAIN_KEY = "bench.drained.v1"


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        run_service(serve(sys.argv[2], sys.argv[3]))
    else:
        asyncio.run(measure())
