"""Access tokens verified locally per second, against `identity.authenticate.v1` round trips per
second, both at concurrency 32, in one run.

    python3 -m benchmarks.access_token

Last line: {"name": "access_token", "ours", "reference", "ratio"}.

Starts identity (access tokens on) in a process of its own, on uvloop as `faststream run` runs
it, in a fresh namespace and a throwaway database; this process is another service. It signs
users in, then alternates short slices of the two ways that service can learn who is calling:
`AccessTokenVerifier.verify` on each user's access token (signature, claims; the JWK Set
fetched once over the broker, then cached), and `authenticate` with each user's session token
(a broker round trip, a database read, and a sliding-expiry write at most once a minute).
Every call uses another user's token, round robin, so no cache of verified tokens could help.
"""

import asyncio
import itertools
import os
import sys
import time
from collections.abc import Awaitable, Callable

from benchmarks.common import (
    AMQP_URL,
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
from gatehouse.access_tokens import AccessTokenVerifier, BrokerJwks
from gatehouse.rpc import RpcClient
from services.identity.app import build as build_identity
from services.ops.system import SystemSettings

CONCURRENCY = 32
USERS = 64
ROUND_S = float(os.environ.get("GATEHOUSE_BENCH_ROUND_S", "6"))
# Alternating slices, so load from other processes on the machine falls on both alike.
SLICES = 6
MODULE = "benchmarks.access_token"
PASSWORD = "benchmark-password-1"
ISSUER, AUDIENCE = "https://id.bench.test", "bench-api"


def bench_settings(namespace: str, database_url: str) -> SystemSettings:
    return service_settings(
        namespace,
        database_url,
        access_tokens="jwt",
        signing_key_secret="benchmark-signing-secret-0123456789abcdef",
        access_token_issuer=ISSUER,
        access_token_audience=[AUDIENCE],
        login_max_failures=1_000_000,
    )


async def serve(namespace: str, database_url: str) -> None:
    await build_identity(bench_settings(namespace, database_url)).start()
    await serving()


async def rate(concurrency: int, seconds: float, op: Callable[[], Awaitable[None]]) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await op()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


async def measure(rpc: RpcClient, namespace: str) -> tuple[float, float]:
    sessions, access_tokens = [], []
    for i in range(USERS):
        name = f"bench_{namespace}_{i}".replace("-", "_")
        body = {"username": name, "password": PASSWORD, "login": True}
        reply = await rpc.call(v1.register, body)
        assert reply["ok"], reply
        sessions.append(reply["result"]["session"]["token"])
        access_tokens.append(reply["result"]["access_token"])
    verifier = AccessTokenVerifier(BrokerJwks(rpc), issuer=ISSUER, audience=AUDIENCE)
    next_access, next_session = itertools.cycle(access_tokens), itertools.cycle(sessions)

    async def verify() -> None:
        await verifier.verify(next(next_access))

    async def authenticate() -> None:
        reply = await rpc.call(v1.authenticate, {"token": next(next_session)})
        assert reply["ok"], reply

    await rate(CONCURRENCY, 0.5, verify)  # warm-up: the JWK Set, connections, statements
    await rate(CONCURRENCY, 0.5, authenticate)
    ours, reference = [], []
    for _ in range(SLICES):
        ours.append(await rate(CONCURRENCY, ROUND_S / SLICES / 2, verify))
        reference.append(await rate(CONCURRENCY, ROUND_S / SLICES / 2, authenticate))
    return sum(ours) / SLICES, sum(reference) / SLICES


async def main() -> None:
    namespace, database_url = fresh_names()
    settings = bench_settings(namespace, database_url)
    async with (
        temporary_database(database_url),
        RpcClient(AMQP_URL, settings.topology, timeout_s=30) as rpc,
    ):
        with server(MODULE, "--serve", namespace, database_url):
            verifies, authenticates = await measure(rpc, namespace)
    await delete_namespace(namespace)
    print(
        f"concurrency {CONCURRENCY}: {verifies:.0f} local verifications/s, "
        f"{authenticates:.0f} authenticate round trips/s, ratio {verifies / authenticates:.1f}",
        flush=True,
    )
    report("access_token", verifies, authenticates, concurrency=CONCURRENCY)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        run_service(serve(sys.argv[2], sys.argv[3]))
    else:
        asyncio.run(main())
