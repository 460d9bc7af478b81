"""How long a lifecycle event takes from its commit to a consumer, through the outbox.

    python3 -m benchmarks.events  # last line: {"name": "events", "ours", "reference", "ratio"}

Identity runs in a process of its own; this process sends `save_properties` at a steady
`RATE` changes/s for `SECONDS` (open loop: a send is not held back by a slow reply) and
consumes `user.properties_updated.v1` from a queue bound to the events exchange. One clock:
both processes are on this machine, and each event's CloudEvents `time` is set in the
service's transaction, a moment before its commit, so the lag read here is commit → consumer
plus that moment. The reference is what the broker alone does at the same rate: a publish
with a confirm, stamped with the time, consumed by the same kind of consumer.

`ours` is our p99 in ms, `reference` the 20 ms budget, `ratio` budget / p99 (target >= 1).
Then one burst of `BURST` changes: how long until the last event has arrived.
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
from gatehouse._loop import run as run_service
from gatehouse.rpc import RpcClient

MODULE = "benchmarks.events"
RATE = int(os.environ.get("BENCH_EVENTS_RATE", "200"))
SECONDS = float(os.environ.get("BENCH_EVENTS_SECONDS", "30"))
BURST = int(os.environ.get("BENCH_EVENTS_BURST", "5000"))
BUDGET_MS = 20.0
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
    topology = Topology(namespace)
    key = events.user_properties_updated.routing_key
    connection = await aio_pika.connect_robust(AMQP_URL)
    async with connection, temporary_database(database_url):
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

            await open_loop(RATE, 2, change)  # warm-up
            await ours.wait_for(int(RATE * 2))
            ours.arrivals.clear()
            await open_loop(RATE, SECONDS, change)
            await ours.wait_for(int(RATE * SECONDS))
            lags = [
                (arrived - datetime.fromisoformat(json.loads(body)["time"]).timestamp()) * 1000
                for arrived, body in ours.arrivals
            ]
            ours.arrivals.clear()

            sem = asyncio.Semaphore(64)

            async def bounded() -> None:
                async with sem:
                    await change()

            burst_started = time.time()
            await asyncio.gather(*(bounded() for _ in range(BURST)))
            await ours.wait_for(BURST, timeout_s=300)
            burst_s = ours.arrivals[-1][0] - burst_started
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

        await open_loop(RATE, SECONDS, stamp)
        await reference.wait_for(int(RATE * SECONDS))
        raw_lags = [
            (arrived - json.loads(body)["sent"]) * 1000 for arrived, body in reference.arrivals
        ]
        await channel.exchange_delete(raw_exchange)
    await delete_namespace(namespace)
    p50, p95, p99 = percentiles(lags)
    r50, r95, r99 = percentiles(raw_lags)
    print(
        f"{RATE} changes/s for {SECONDS:g} s, commit -> consumer ms: p50 {p50:.1f}, p95 {p95:.1f},"
        f" p99 {p99:.1f} ({len(lags)} events); raw publish-with-confirm -> consume: p50"
        f" {r50:.1f}, p95 {r95:.1f}, p99 {r99:.1f}; burst of {BURST}: last event after"
        f" {burst_s:.2f} s",
        flush=True,
    )
    # A latency: the ratio is budget / p99, so above 1 is within the budget.
    line = {"name": "events", "ours": round(p99, 1), "reference": BUDGET_MS}
    line |= {"ratio": round(BUDGET_MS / p99, 3), "p50_ms": round(p50, 1), "p95_ms": round(p95, 1)}
    line |= {"raw_p99_ms": round(r99, 1), "burst": BURST, "burst_s": round(burst_s, 2)}
    print(json.dumps(line))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        run_service(serve(sys.argv[2], sys.argv[3]))
    else:
        asyncio.run(measure())
