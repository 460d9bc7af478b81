"""The identity service's own CPU per password login, against one bare argon2 verify.

    python3 -m benchmarks.login_service  # last line: {"name": "login_service", "ours", ...}

The figure that sizes a deployment: there, the broker, the database and the callers run on
other machines, and only identity is scaled out. Identity runs alone in a process of its own
(on uvloop, as `faststream run` runs it); this process signs users in at a steady concurrency
and reads the service's CPU (event loop thread + hash threads) from /proc before and after.
The reference is one passlib verify of the same hash in the same kind of thread pool, timed
by this process's CPU clock in the same run.

`ours` is the service's ms of CPU per login, `reference` the ms of one verify, and `ratio`
reference / ours: 1.0 would be a login costing nothing but its hash. The whole-machine figure
(logins/s against the verify ceiling) and where the rest of a login's CPU goes (broker,
database, caller) are printed as information.
"""

import asyncio
import json
import os
import sys
import time

from benchmarks.common import (
    AMQP_URL,
    cpu_seconds,
    delete_namespace,
    fresh_names,
    server,
    serving,
    temporary_database,
)
from benchmarks.login import PASSWORD, bench_settings, count, rate
from contracts.identity import v1
from gatehouse._loop import run as run_service
from gatehouse.rpc import RpcClient
from services.identity.app import build as build_identity
from services.identity.hashing import Hasher

MODULE = "benchmarks.login_service"
ROUND_S = float(os.environ.get("GATEHOUSE_BENCH_ROUND_S", "8"))
CONCURRENCY = int(os.environ.get("GATEHOUSE_BENCH_CONCURRENCY", "4"))
SERVICE_GROUPS = ("service loop", "service threads")


async def serve(namespace: str, database_url: str) -> None:
    service = build_identity(bench_settings(namespace, database_url))
    await service.start()
    await serving()


def ms_per_op(before: dict[str, float], after: dict[str, float], ops: float) -> dict[str, float]:
    return {g: (after[g] - before.get(g, 0.0)) / ops * 1000 for g in after}


async def main() -> None:
    namespace, database_url = fresh_names()
    settings = bench_settings(namespace, database_url)
    reference = Hasher(settings.password_hash_workers)
    async with (
        temporary_database(database_url),
        RpcClient(AMQP_URL, settings.topology, timeout_s=60) as rpc,
    ):
        with server(MODULE, "--serve", namespace, database_url) as proc:
            await reference.start()
            try:
                users = [f"bench_svc_{i}" for i in range(CONCURRENCY)]
                for name in users:
                    body = {"username": name, "password": PASSWORD}
                    assert (await rpc.call(v1.register, body))["ok"]
                stored = await reference.hash(PASSWORD)

                async def login(i: int) -> None:
                    body = {"username": users[i], "password": PASSWORD}
                    reply = await rpc.call(v1.login, body)
                    assert reply["ok"], reply

                async def verify(_: int) -> None:
                    ok, _new = await reference.verify(PASSWORD, stored)
                    assert ok

                await rate(CONCURRENCY, 1.0, login)  # warm-up: prepared statements, caches
                started = time.process_time()
                verifies = await count(CONCURRENCY, ROUND_S / 2, verify)
                verify_ms = (time.process_time() - started) / verifies * 1000
                before = cpu_seconds(proc.pid)
                wall = time.perf_counter()
                logins = await count(CONCURRENCY, ROUND_S, login)
                wall = time.perf_counter() - wall
                spent = ms_per_op(before, cpu_seconds(proc.pid), logins)
                ceiling = await rate(CONCURRENCY, ROUND_S / 2, verify)
            finally:
                await reference.stop()
    await delete_namespace(namespace)
    service_ms = sum(spent.get(g, 0.0) for g in SERVICE_GROUPS)
    loop_ms = spent.get("service loop", 0.0)
    print(
        f"concurrency {CONCURRENCY}: {logins / wall:.1f} logins/s, verify ceiling"
        f" {ceiling:.1f}/s (whole machine, ratio {logins / wall / ceiling:.3f})",
        flush=True,
    )
    breakdown = ", ".join(f"{g} {ms:.2f}" for g, ms in sorted(spent.items(), key=lambda i: -i[1]))
    print(
        f"CPU per login, ms: {breakdown}; one bare verify: {verify_ms:.2f};"
        f" the service's own: {service_ms:.2f} (event loop {loop_ms:.2f})",
        flush=True,
    )
    line = {"name": "login_service", "ours": round(service_ms, 2), "reference": round(verify_ms, 2)}
    line |= {"ratio": round(verify_ms / service_ms, 3), "loop_ms": round(loop_ms, 2)}
    print(json.dumps(line))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        run_service(serve(sys.argv[2], sys.argv[3]))
    else:
        asyncio.run(main())
