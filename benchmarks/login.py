"""Password logins per second through the broker, against the raw argon2 verify ceiling.

    python3 -m benchmarks.login

Starts verification and identity in a process of their own (on uvloop, as `faststream run`
runs them) in a fresh namespace and a throwaway database; this process is the caller, as
another service would be. It signs users in at concurrency 2, 4 and 8 and measures in the
same run, between those rounds, how many passlib verifies of the same hash the same kind of
thread pool does with no broker and no database. A login is one argon2 verify plus a few
milliseconds of messaging and SQL, so the ratio shows how much of the machine the rest takes.
Also prints `authenticate` round trips per second at concurrency 32, and where a login's CPU
goes at the best concurrency (service, broker, database and caller share this machine's cores,
where the reference has them to itself). The last line is one JSON object.
"""

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable

from benchmarks.common import (
    AMQP_URL,
    cpu_per_op,
    cpu_seconds,
    delete_namespace,
    fresh_names,
    report,
    server,
    service_settings,
    serving,
    temporary_database,
)
from contracts.identity import v1
from gatehouse._loop import run as run_service
from gatehouse.rpc import RpcClient
from services.identity.app import build as build_identity
from services.identity.hashing import Hasher
from services.ops.system import SystemSettings
from services.verification.app import build as build_verification

ROUND_S = float(os.environ.get("GATEHOUSE_BENCH_ROUND_S", "4"))
# Each round alternates short slices of reference and ours, so load from other processes on
# the machine falls on both alike instead of on whichever ran during a burst.
SLICES = 4
CONCURRENCIES = (2, 4, 8)
MODULE = "benchmarks.login"
PASSWORD = "benchmark-password-1"


async def rate(concurrency: int, seconds: float, op: Callable[[int], Awaitable[None]]) -> float:
    """Operations per second of `concurrency` workers looping `op` for `seconds`."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(i: int) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await op(i)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return done / (time.perf_counter() - started)


async def count(concurrency: int, seconds: float, op: Callable[[int], Awaitable[None]]) -> float:
    """How many times `concurrency` workers looping `op` for `seconds` ran it."""
    started = time.perf_counter()
    per_s = await rate(concurrency, seconds, op)
    return per_s * (time.perf_counter() - started)


def bench_settings(namespace: str, database_url: str) -> SystemSettings:
    return service_settings(namespace, database_url, login_max_failures=1_000_000)


async def serve(namespace: str, database_url: str) -> None:
    settings = bench_settings(namespace, database_url)
    for service in (build_verification(settings), build_identity(settings)):
        await service.start()
    await serving()


async def main() -> None:
    namespace, database_url = fresh_names()
    settings = bench_settings(namespace, database_url)
    reference = Hasher(settings.password_hash_workers)
    async with (
        temporary_database(database_url),
        RpcClient(AMQP_URL, settings.topology, timeout_s=30) as rpc,
    ):
        with server(MODULE, "--serve", namespace, database_url) as proc:
            await reference.start()
            try:
                results, auth = await measure(rpc, reference, namespace, proc.pid)
            finally:
                await reference.stop()
    await delete_namespace(namespace)
    best = max(results, key=lambda c: results[c][0])
    report("login", *results[best], concurrency=best, authenticate_per_s=round(auth))


async def measure(
    rpc: RpcClient, reference: Hasher, namespace: str, service_pid: int
) -> tuple[dict[int, tuple[float, float]], float]:
    """{concurrency: (logins/s, verify ceiling/s)} and authenticate round trips/s."""
    users = [f"bench_{namespace}_{i}".replace("-", "_") for i in range(max(CONCURRENCIES))]
    for name in users:
        reply = await rpc.call(v1.register, {"username": name, "password": PASSWORD})
        assert reply["ok"], reply
    stored = await reference.hash(PASSWORD)

    async def login(i: int) -> None:
        reply = await rpc.call(v1.login, {"username": users[i], "password": PASSWORD})
        assert reply["ok"], reply

    async def verify(_: int) -> None:
        ok, _new = await reference.verify(PASSWORD, stored)
        assert ok

    results: dict[int, tuple[float, float]] = {}
    await rate(2, 0.5, login)  # warm-up: connections, prepared statements
    for concurrency in CONCURRENCIES:
        ceilings, ours_slices = [], []
        for _ in range(SLICES):
            ceilings.append(await rate(concurrency, ROUND_S / SLICES / 2, verify))
            ours_slices.append(await rate(concurrency, ROUND_S / SLICES / 2, login))
        ceiling = sum(ceilings) / SLICES
        ours = sum(ours_slices) / SLICES
        results[concurrency] = (ours, ceiling)
        print(
            f"login concurrency={concurrency}: {ours:.1f} logins/s,"
            f" argon2 verify ceiling {ceiling:.1f}/s, ratio {ours / ceiling:.3f}"
        )

    best = max(results, key=lambda c: results[c][0])
    started = time.process_time()
    verifies = await count(best, ROUND_S / 2, verify)
    verify_ms = (time.process_time() - started) / verifies * 1000
    before = cpu_seconds(service_pid)
    logins = await count(best, ROUND_S / 2, login)
    spent = cpu_per_op(before, cpu_seconds(service_pid), logins)
    print(f"CPU per login at concurrency {best}, ms: {spent}; one bare verify: {verify_ms:.2f}")

    token = (await rpc.call(v1.login, {"username": users[0], "password": PASSWORD}))["result"][
        "session"
    ]["token"]

    async def authenticate(_: int) -> None:
        reply = await rpc.call(v1.authenticate, {"token": token})
        assert reply["ok"], reply

    auth = await rate(32, ROUND_S, authenticate)
    print(f"authenticate concurrency=32: {auth:.0f} round trips/s")
    return results, auth


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        # As deployed: services run on uvloop (`faststream run` picks it up).
        run_service(serve(sys.argv[2], sys.argv[3]))
    else:
        asyncio.run(main())
