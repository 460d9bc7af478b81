"""Ours against the hand-written references (`benchmarks/references/`), one sub-command per
hot command, each measured in the same run on this machine in alternating rounds.

    python3 -m benchmarks.hand_written authenticate   # last line: {"name", "ours", ...}
    python3 -m benchmarks.hand_written access_token
    python3 -m benchmarks.hand_written send_code
    python3 -m benchmarks.hand_written login
    python3 -m benchmarks.hand_written all            # each, then every ratio on one line

Each server runs in a process of its own on uvloop, as `faststream run` runs ours; this
process is the caller, the same `RpcClient` for both (the reference's commands exchange is
`<namespace>.ref.commands`). Ours uses a scratch database migrated as deployed; the reference
one with the same tables and indexes (`references.schema`). `ratio` is ours / reference for
a rate, reference / ours for CPU per call, so above 1 means ours is the cheaper; `goal` is
issue 27's. Every namespace, queue and database a run makes is removed at its end, Ctrl-C
included.

- authenticate, send_code: round trips/s at concurrency 32, the best of 5 alternating rounds
  each (`BENCH_CALLS` calls a round), then where a call's CPU goes (information);
- login: the server process's own CPU (event loop and hash threads, from /proc) per password
  login at concurrency 4, over 6 alternating slices (`BENCH_SLICE_S` seconds each);
- access_token: local verifications/s in this process, the best of 6 alternating slices, each
  call another user's token; both verifiers first give the same claims for every token.
"""

import argparse
import asyncio
import hashlib
import itertools
import json
import os
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import asyncpg

from benchmarks import access_token as access_token_bench
from benchmarks import login as login_bench
from benchmarks import send_code as send_code_bench
from benchmarks.common import (
    AMQP_URL,
    cpu_seconds,
    delete_namespace,
    fresh_names,
    print_cpu_per_call,
    server,
    serving,
    temporary_database,
    throughput,
)
from benchmarks.references import access_token as access_token_ref
from benchmarks.references import amqp, schema
from benchmarks.references import authenticate as authenticate_ref
from benchmarks.references import login as login_ref
from benchmarks.references import relay as relay_ref
from benchmarks.references import send_code as send_code_ref
from contracts.identity import v1
from contracts.topology import Topology
from gatehouse._loop import run as run_service
from gatehouse.access_tokens import AccessTokenVerifier, BrokerJwks
from gatehouse.rpc import RpcClient

MODULE = "benchmarks.hand_written"
CONCURRENCY = 32
ROUNDS = 5
USERS = 64
PASSWORD = "benchmark-password-1"
GOALS = {"authenticate": 0.90, "send_code": 0.90, "login": 0.95, "access_token": 0.90}


# scratch -----------------------------------------------------------------------------------


@asynccontextmanager
async def scratch() -> AsyncIterator[tuple[str, str, str]]:
    """(namespace, our database, the reference's database), all removed at the end."""
    namespace, ours_db = fresh_names()
    ref_db = urlsplit(ours_db)._replace(path=urlsplit(ours_db).path + "_ref").geturl()
    try:
        async with temporary_database(ours_db), temporary_database(ref_db):
            yield namespace, ours_db, ref_db
    finally:
        await delete_namespace(namespace)


def line(name: str, ours: float, reference: float, ratio: float, **extra: Any) -> dict[str, Any]:
    result = {"name": f"hand_written.{name}", "ours": round(ours, 2)}
    result |= {"reference": round(reference, 2), "ratio": round(ratio, 3)}
    result |= {"goal": GOALS[name], "met": ratio >= GOALS[name], **extra}
    print(json.dumps(result), flush=True)
    return result


async def alternate(
    ours: Callable[[], Awaitable[Any]], reference: Callable[[], Awaitable[Any]], calls: int
) -> tuple[float, float]:
    """The best rate of each over `ROUNDS` alternating rounds, after a warm-up."""
    for call in (ours, reference):
        await throughput(call, CONCURRENCY, 300)
    best_ours = best_ref = 0.0
    for _ in range(ROUNDS):
        best_ref = max(best_ref, await throughput(reference, CONCURRENCY, calls))
        best_ours = max(best_ours, await throughput(ours, CONCURRENCY, calls))
    return best_ours, best_ref


# authenticate ------------------------------------------------------------------------------


async def seed_sessions(url: str, count: int) -> list[str]:
    """`count` users with a live session each, in the reference's database, as a
    `register` with `login: true` leaves them in ours."""
    tokens = [secrets.token_urlsafe(32) for _ in range(count)]
    pool = await schema.pool(url, "identity", "seed", max_size=1)
    try:
        for i, token in enumerate(tokens):
            name = f"bench_user_{i}"
            await pool.execute(
                "WITH u AS (INSERT INTO users (public_id, username, username_key,"
                " username_skeleton) VALUES ($1, $2, $2, $2) RETURNING id)"
                " INSERT INTO sessions (public_id, user_id, token_hash, method, expires_at,"
                " absolute_expires_at, factors) SELECT $3, u.id, $4, 'username_password',"
                " now() + interval '1 day', now() + interval '30 days', '{pwd}' FROM u",
                f"u_{uuid.uuid4().hex[:12]}",
                name,
                f"s_{uuid.uuid4().hex[:12]}",
                hashlib.sha256(token.encode()).digest(),
            )
    finally:
        await pool.close()
    return tokens


async def measure_authenticate() -> dict[str, Any]:
    async with scratch() as (namespace, ours_db, ref_db):
        await schema.create(ref_db, "identity")
        ref_tokens = await seed_sessions(ref_db, USERS)
        with (
            server("benchmarks.authenticate", "--serve", namespace, ours_db) as ours_server,
            server(MODULE, "--serve", "authenticate", namespace, ref_db) as ref_server,
        ):
            async with (
                RpcClient(AMQP_URL, Topology(namespace), timeout_s=30) as rpc,
                RpcClient(
                    AMQP_URL, Topology(namespace), exchange=amqp.exchange_name(namespace)
                ) as ref_rpc,
            ):
                tokens = []
                for i in range(USERS):
                    body = {"username": f"bench_user_{i}", "password": PASSWORD, "login": True}
                    reply = await rpc.call(v1.register, body)
                    assert reply["ok"], reply
                    tokens.append(reply["result"]["session"]["token"])

                def caller(client: RpcClient, pool: list[str]) -> Callable[[], Awaitable[None]]:
                    turn = itertools.cycle(pool)

                    async def call() -> None:
                        body = b'{"token": "' + next(turn).encode() + b'"}'
                        reply = await client.call_raw(v1.authenticate.routing_key, body)
                        assert reply.startswith(b'{"ok":true'), reply

                    return call

                calls = int(os.environ.get("BENCH_CALLS", "6000"))
                ours, ref = caller(rpc, tokens), caller(ref_rpc, ref_tokens)
                best_ours, best_ref = await alternate(ours, ref, calls)
                await print_cpu_per_call("authenticate", ours, ours_server.pid, CONCURRENCY, calls)
                await print_cpu_per_call("reference", ref, ref_server.pid, CONCURRENCY, calls)
    print(f"authenticate/s at c={CONCURRENCY}: ours {best_ours:.1f}, hand-written {best_ref:.1f}")
    return line("authenticate", best_ours, best_ref, best_ours / best_ref, unit="calls/s")


async def serve_authenticate(namespace: str, database_url: str) -> None:
    pool = await schema.pool(database_url, "identity", namespace)
    connection = await aio_pika.connect_robust(AMQP_URL)
    await amqp.serve(
        connection, namespace, authenticate_ref.ROUTING_KEY, authenticate_ref.answerer(pool)
    )
    await serving()


# send_code ---------------------------------------------------------------------------------

REF_SECRET = b"benchmark-reference-secret-0123456789abcdef"


async def bind_ref_sink(namespace: str) -> str:
    """The reference's delivery exchange and its sink channel queue: as `send_code.bind_sink`
    makes ours (a quorum queue, no consumer), so both publish to a queue of the same kind."""
    name = f"{namespace}.ref.delivery"
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(
            f"{namespace}.ref.channel.sink", durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(exchange, routing_key="custom.sink")
    return name


async def measure_send_code() -> dict[str, Any]:
    calls = int(os.environ.get("BENCH_CALLS", "3000"))
    async with scratch() as (namespace, ours_db, ref_db):
        await schema.create(ref_db, "verification")
        await send_code_bench.bind_sink(namespace)
        await bind_ref_sink(namespace)
        with (
            server(
                "benchmarks.send_code", "--serve", "--namespace", namespace, "--db", ours_db
            ) as ours_server,
            server(MODULE, "--serve", "send_code", namespace, ref_db) as ref_server,
        ):
            async with (
                RpcClient(AMQP_URL, Topology(namespace), timeout_s=30) as rpc,
                RpcClient(
                    AMQP_URL, Topology(namespace), exchange=amqp.exchange_name(namespace)
                ) as ref_rpc,
            ):

                def caller(client: RpcClient) -> Callable[[], Awaitable[None]]:
                    async def call() -> None:
                        body = {
                            "send_to": f"{uuid.uuid4().hex}@example.com",
                            "scenario": "login",
                            "channel": "sink",
                        }
                        encoded = json.dumps(body).encode()
                        reply = await client.call_raw(send_code_ref.ROUTING_KEY, encoded)
                        assert reply.startswith(b'{"ok":true'), reply

                    return call

                ours, ref = caller(rpc), caller(ref_rpc)
                best_ours, best_ref = await alternate(ours, ref, calls)
                await print_cpu_per_call("send_code", ours, ours_server.pid, CONCURRENCY, calls)
                await print_cpu_per_call("reference", ref, ref_server.pid, CONCURRENCY, calls)
    print(f"send_code/s at c={CONCURRENCY}: ours {best_ours:.1f}, hand-written {best_ref:.1f}")
    return line("send_code", best_ours, best_ref, best_ours / best_ref, unit="calls/s")


async def serve_send_code(namespace: str, database_url: str) -> None:
    pool = await schema.pool(database_url, "verification", namespace)
    connection = await aio_pika.connect_robust(AMQP_URL)
    answer = send_code_ref.answerer(
        pool, connection, f"{namespace}.ref.delivery", REF_SECRET, hourly_cap=1_000_000
    )
    await amqp.serve(connection, namespace, send_code_ref.ROUTING_KEY, answer)
    await serving()


# login -------------------------------------------------------------------------------------

SERVICE_GROUPS = ("service loop", "service threads")


async def seed_credentials(url: str, names: list[str]) -> None:
    """Users with a password, in the reference's database, as `register` leaves them in ours."""
    stored = login_ref.HASHER.hash(PASSWORD)
    pool = await schema.pool(url, "identity", "seed", max_size=1)
    try:
        for name in names:
            await pool.execute(
                "WITH u AS (INSERT INTO users (public_id, username, username_key,"
                " username_skeleton) VALUES ($1, $2, $2, $2) RETURNING id)"
                " INSERT INTO credentials (user_id, password_hash) SELECT id, $3 FROM u",
                f"u_{uuid.uuid4().hex[:12]}",
                name,
                stored,
            )
    finally:
        await pool.close()


def service_ms(pid: int, before: dict[str, float], logins: int) -> float:
    after = cpu_seconds(pid)
    spent = sum(after.get(g, 0.0) - before.get(g, 0.0) for g in SERVICE_GROUPS)
    return spent / logins * 1000


async def events_out(url: str) -> None:
    """Every login's event published (the relays kept up), or a failed benchmark."""
    con = await asyncpg.connect(url, server_settings={"search_path": "identity"})
    try:
        for _ in range(100):
            row = await con.fetchrow(
                "SELECT count(*) FILTER (WHERE published_at IS NULL),"
                " count(*) FILTER (WHERE published_at IS NOT NULL) FROM outbox"
            )
            assert row is not None
            pending, published = row
            if pending == 0:
                assert published > 0
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{pending} events of {url} never published")
    finally:
        await con.close()


async def measure_login() -> dict[str, Any]:
    concurrency, slices, slice_s = 4, 6, float(os.environ.get("BENCH_SLICE_S", "3"))
    names = [f"bench_login_{i}" for i in range(concurrency)]
    async with scratch() as (namespace, ours_db, ref_db):
        await schema.create(ref_db, "identity")
        await seed_credentials(ref_db, names)
        with (
            server("benchmarks.login_service", "--serve", namespace, ours_db) as ours_server,
            server(MODULE, "--serve", "login", namespace, ref_db) as ref_server,
        ):
            async with (
                RpcClient(AMQP_URL, Topology(namespace), timeout_s=60) as rpc,
                RpcClient(
                    AMQP_URL, Topology(namespace), exchange=amqp.exchange_name(namespace)
                ) as ref_rpc,
            ):
                for name in names:
                    body = {"username": name, "password": PASSWORD}
                    assert (await rpc.call(v1.register, body))["ok"]

                def caller(client: RpcClient) -> Callable[[int], Awaitable[None]]:
                    async def call(i: int) -> None:
                        body = {"username": names[i], "password": PASSWORD}
                        encoded = json.dumps(body).encode()
                        reply = await client.call_raw(login_ref.ROUTING_KEY, encoded)
                        assert reply.startswith(b'{"ok":true'), reply

                    return call

                ours, ref = caller(rpc), caller(ref_rpc)
                # The same reply shape from both, before timing anything.
                shapes = []
                for client in (rpc, ref_rpc):
                    first = json.dumps({"username": names[0], "password": PASSWORD}).encode()
                    reply = json.loads(await client.call_raw(login_ref.ROUTING_KEY, first))
                    shapes.append((sorted(reply["result"]), sorted(reply["result"]["user"])))
                assert shapes[0] == shapes[1], shapes
                for call in (ours, ref):
                    await login_bench.rate(concurrency, 1.0, call)  # warm-up
                totals = {"ours": [0.0, 0], "ref": [0.0, 0]}
                for _ in range(slices):
                    for side, call, pid in (
                        ("ref", ref, ref_server.pid),
                        ("ours", ours, ours_server.pid),
                    ):
                        before = cpu_seconds(pid)
                        logins = round(await login_bench.count(concurrency, slice_s, call))
                        totals[side][0] += service_ms(pid, before, logins) * logins
                        totals[side][1] += logins
                for url in (ours_db, ref_db):
                    await events_out(url)
    ours_ms = totals["ours"][0] / totals["ours"][1]
    ref_ms = totals["ref"][0] / totals["ref"][1]
    print(
        f"service CPU per login at c={concurrency}: ours {ours_ms:.2f} ms"
        f" ({int(totals['ours'][1])} logins), hand-written {ref_ms:.2f} ms"
        f" ({int(totals['ref'][1])} logins)"
    )
    return line("login", ours_ms, ref_ms, ref_ms / ours_ms, unit="service CPU ms per login")


async def serve_login(namespace: str, database_url: str) -> None:
    pool = await schema.pool(database_url, "identity", namespace)
    listen = await asyncpg.connect(database_url, server_settings={"search_path": "identity"})
    connection = await aio_pika.connect_robust(AMQP_URL)
    confirmed = await connection.channel(publisher_confirms=True)
    events = await confirmed.declare_exchange(
        f"{namespace}.ref.events", aio_pika.ExchangeType.TOPIC, durable=True
    )
    relay = relay_ref.Relay(pool, events, listen)
    answer = login_ref.answerer(pool, REF_SECRET, max_failures=1_000_000)
    await amqp.serve(connection, namespace, login_ref.ROUTING_KEY, answer)
    running = asyncio.create_task(relay.run())
    await serving()
    running.cancel()


# access tokens -----------------------------------------------------------------------------


async def measure_access_token() -> dict[str, Any]:
    slices, slice_s = 6, 0.5
    async with scratch() as (namespace, ours_db, _ref_db):
        settings = access_token_bench.bench_settings(namespace, ours_db)
        with server("benchmarks.access_token", "--serve", namespace, ours_db):
            async with RpcClient(AMQP_URL, settings.topology, timeout_s=30) as rpc:
                tokens = []
                for i in range(USERS):
                    body = {"username": f"bench_at_{i}", "password": PASSWORD, "login": True}
                    reply = await rpc.call(v1.register, body)
                    assert reply["ok"], reply
                    tokens.append(reply["result"]["access_token"])
                issuer, audience = access_token_bench.ISSUER, access_token_bench.AUDIENCE
                jwks = BrokerJwks(rpc)
                ours_verifier = AccessTokenVerifier(jwks, issuer=issuer, audience=audience)
                ref_verifier = access_token_ref.Verifier(jwks.fetch, issuer, audience)
                next_ours, next_ref = itertools.cycle(tokens), itertools.cycle(tokens)
                for token in tokens:  # the same answers, before timing anything
                    ours_claims = await ours_verifier.verify(token)
                    ref_claims = await ref_verifier.verify(token)
                    absent = dict.fromkeys(access_token_ref.OPTIONAL)
                    assert ours_claims.model_dump() == absent | ref_claims

                async def ours() -> None:
                    await ours_verifier.verify(next(next_ours))

                async def ref() -> None:
                    await ref_verifier.verify(next(next_ref))

                rate = access_token_bench.rate
                ours_rates, ref_rates = [], []
                for _ in range(slices):
                    ref_rates.append(await rate(1, slice_s, ref))
                    ours_rates.append(await rate(1, slice_s, ours))
    best_ours, best_ref = max(ours_rates), max(ref_rates)
    print(f"verifications/s: ours {best_ours:.0f}, hand-written {best_ref:.0f}")
    return line("access_token", best_ours, best_ref, best_ours / best_ref, unit="verifies/s")


# entry -------------------------------------------------------------------------------------

MEASURES: dict[str, Callable[[], Coroutine[Any, Any, dict[str, Any]]]] = {
    "authenticate": measure_authenticate,
    "access_token": measure_access_token,
    "send_code": measure_send_code,
    "login": measure_login,
}
SERVERS: dict[str, Callable[[str, str], Coroutine[Any, Any, None]]] = {
    "authenticate": serve_authenticate,
    "send_code": serve_send_code,
    "login": serve_login,
}


async def measure_all() -> None:
    ratios = {}
    for name, measure in MEASURES.items():
        ratios[name] = (await measure())["ratio"]
    met = all(ratios[name] >= GOALS[name] for name in ratios)
    print(json.dumps({"name": "hand_written", "ratios": ratios, "goals": GOALS, "met": met}))


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        which, namespace, database_url = sys.argv[2:5]
        run_service(SERVERS[which](namespace, database_url))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=[*MEASURES, "all"])
    args = parser.parse_args()
    started = time.perf_counter()
    if args.command == "all":
        asyncio.run(measure_all())
    else:
        asyncio.run(MEASURES[args.command]())
    print(f"# took {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
