"""verification.send_code.v1 round trips/s at concurrency 32, against the raw aio-pika echo
(benchmarks/rpc.py's reference) measured in the same run.

    python3 -m benchmarks.send_code  # last line: {"name": "send_code", "ours", "reference", ...}

Each send is a real one: a fresh recipient, the code HMAC'd and stored in PostgreSQL under the
recipient lock, the delivery published mandatory with a confirm to a custom channel's
(quorum) queue.
"""

import argparse
import asyncio
import json
import os
import uuid

import aio_pika

from benchmarks.common import (
    AMQP_URL,
    delete_namespace,
    fresh_names,
    print_cpu_per_call,
    report,
    server,
    service_settings,
    serving,
    temporary_database,
    throughput,
)
from benchmarks.rpc import RawClient
from contracts.topology import Topology
from gatehouse._loop import run as run_service
from gatehouse.rpc import RpcClient

MODULE = "benchmarks.send_code"
RPC_MODULE = "benchmarks.rpc"
CONCURRENCY = 32
CALLS = int(os.environ.get("BENCH_CALLS", "3000"))
ROUNDS = 3


async def serve(namespace: str, database_url: str) -> None:
    from services.verification.app import build

    service = build(service_settings(namespace, database_url, code_hourly_cap=1_000_000))
    await service.start()
    await serving()


async def bind_sink(namespace: str) -> None:
    """The custom channel's queue, declared as the channel SDK declares it but left without a
    consumer: the channel is another service on another machine, not part of this path."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        topology = Topology(namespace)
        exchange = await channel.declare_exchange(
            topology.delivery, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(
            topology.consumer_queue("channel", "sink"),
            durable=True,
            arguments={"x-queue-type": "quorum"},
        )
        await queue.bind(exchange, routing_key="custom.sink")


async def measure() -> None:
    namespace, database_url = fresh_names()
    await bind_sink(namespace)
    async with temporary_database(database_url):
        with (
            server(RPC_MODULE, "--serve", "raw", "--namespace", namespace) as raw_server,
            server(MODULE, "--serve", "--namespace", namespace, "--db", database_url) as ours,
        ):
            raw = RawClient(namespace)
            await raw.connect()
            rpc = RpcClient(AMQP_URL, Topology(namespace))
            await rpc.connect()

            async def send_code() -> None:
                body = {
                    "send_to": f"{uuid.uuid4().hex}@example.com",
                    "scenario": "login",
                    "channel": "sink",
                }
                reply = await rpc.call_raw("verification.send_code.v1", json.dumps(body).encode())
                assert reply.startswith(b'{"ok":true'), reply

            await throughput(raw.call, CONCURRENCY, 200)
            await throughput(send_code, CONCURRENCY, 200)
            best_raw = best_ours = 0.0
            for _ in range(ROUNDS):
                best_raw = max(best_raw, await throughput(raw.call, CONCURRENCY, CALLS))
                best_ours = max(best_ours, await throughput(send_code, CONCURRENCY, CALLS))
            # Where a call's CPU goes, one more round each (information, not the figure).
            await print_cpu_per_call("send_code", send_code, ours.pid, CONCURRENCY, CALLS)
            await print_cpu_per_call("raw echo", raw.call, raw_server.pid, CONCURRENCY, CALLS)
            print(
                f"concurrency {CONCURRENCY}: send_code {best_ours:.1f}/s, "
                f"raw aio-pika echo {best_raw:.1f}/s, ratio {best_ours / best_raw:.3f}",
                flush=True,
            )
            await rpc.close()
            await raw.connection.close()
    await delete_namespace(namespace)
    report("send_code", best_ours, best_raw, concurrency=CONCURRENCY)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--namespace")
    parser.add_argument("--db")
    args = parser.parse_args()
    # Gatehouse runs on uvloop as deployed (`faststream run` picks it up); so does the
    # reference echo server (benchmarks/rpc.py --serve raw).
    if args.serve:
        run_service(serve(args.namespace, args.db))
    else:
        asyncio.run(measure())


if __name__ == "__main__":
    main()
