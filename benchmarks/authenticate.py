"""identity.authenticate.v1 round trips/s at concurrency 32, against the raw aio-pika echo
(benchmarks/rpc.py's reference server, on uvloop like ours) through the same client.

    python3 -m benchmarks.authenticate  # last line: {"name": "authenticate", "ours", ...}

`authenticate` is what every other service calls on every request it serves: a round trip,
a session lookup, and the sliding expiry, which is written at most once a minute per session
(services/identity/store/sessions.py), so a busy session costs a read, not a write. The
tokens belong to 64 users so the sessions are not one hot row.
"""

import asyncio
import os
import sys

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
from benchmarks.rpc import ECHO
from contracts.identity import v1
from contracts.topology import Topology
from gatehouse._loop import run as run_service
from gatehouse.rpc import RpcClient

MODULE = "benchmarks.authenticate"
RPC_MODULE = "benchmarks.rpc"
CONCURRENCY = 32
CALLS = int(os.environ.get("BENCH_CALLS", "6000"))
ROUNDS = 5
USERS = 64


async def serve(namespace: str, database_url: str) -> None:
    from services.identity.app import build

    service = build(service_settings(namespace, database_url))
    await service.start()
    await serving()


async def measure() -> None:
    namespace, database_url = fresh_names()
    async with temporary_database(database_url):
        with (
            server(RPC_MODULE, "--serve", "raw", "--namespace", namespace) as raw_server,
            server(MODULE, "--serve", namespace, database_url) as ours_server,
        ):
            rpc = RpcClient(AMQP_URL, Topology(namespace), timeout_s=30)
            await rpc.connect()
            tokens = []
            for i in range(USERS):
                body = {"username": f"bench_user_{i}", "password": "benchmark-password-1"}
                reply = await rpc.call(v1.register, {**body, "login": True})
                assert reply["ok"], reply
                tokens.append(reply["result"]["session"]["token"])
            turn = iter(range(10**9))
            echo = b'{"payload": "' + b"x" * 64 + b'"}'

            async def authenticate() -> None:
                body = b'{"token": "' + tokens[next(turn) % USERS].encode() + b'"}'
                reply = await rpc.call_raw(v1.authenticate.routing_key, body)
                assert reply.startswith(b'{"ok":true'), reply

            rpc_raw = RpcClient(AMQP_URL, Topology(namespace), exchange=f"{namespace}.raw")
            await rpc_raw.connect()

            async def echo_call() -> None:
                reply = await rpc_raw.call_raw(ECHO.routing_key, echo)
                assert reply.startswith(b'{"payload"'), reply

            for call in (authenticate, echo_call):
                await throughput(call, CONCURRENCY, 500)  # warm-up
            best_ours = best_raw = 0.0
            for _ in range(ROUNDS):
                best_raw = max(best_raw, await throughput(echo_call, CONCURRENCY, CALLS))
                best_ours = max(best_ours, await throughput(authenticate, CONCURRENCY, CALLS))
            # Where a call's CPU goes, one more round each (information, not the figure).
            await print_cpu_per_call(
                "authenticate", authenticate, ours_server.pid, CONCURRENCY, CALLS
            )
            await print_cpu_per_call("raw echo", echo_call, raw_server.pid, CONCURRENCY, CALLS)
            print(
                f"concurrency {CONCURRENCY}: authenticate {best_ours:.1f}/s, raw aio-pika echo"
                f" {best_raw:.1f}/s through the same client, ratio {best_ours / best_raw:.3f}",
                flush=True,
            )
            await rpc.close()
            await rpc_raw.close()
    await delete_namespace(namespace)
    report("authenticate", best_ours, best_raw, concurrency=CONCURRENCY)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        run_service(serve(sys.argv[2], sys.argv[3]))
    else:
        asyncio.run(measure())
