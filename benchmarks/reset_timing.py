"""Does a password reset request take longer for an account that exists? It must not: the
reply would tell an attacker which identifiers are registered (issue 11, finding 5).

    python3 -m benchmarks.reset_timing  # last line: {"name": "reset_timing", "ours", ...}
    python3 -m benchmarks.reset_timing --dead-token  # each request names a session, none live

Alternates requests for registered and unknown emails through one client, one at a time, and
compares the median round trips: `ours` is the known users' median in ms, `reference` the
unknown ones', and `ratio` ours / reference (1.0: indistinguishable; the finding measured 1.44,
6.5 against 4.5 ms; with the request queued and mailed off the reply path, 4.44 against
4.44 ms here). With `--dead-token` every request carries a session token that names no live
session (seed 004's signed-in check, issue 28): one more look-up, the same for both.
"""

import argparse
import asyncio
import statistics
import time
import uuid

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
from contracts.topology import Topology
from gatehouse._loop import run as run_service
from gatehouse.rpc import RpcClient

MODULE = "benchmarks.reset_timing"
USERS = 200
ROUNDS = 5


async def serve(namespace: str, database_url: str) -> None:
    from services.identity.app import build

    settings = service_settings(
        namespace,
        database_url,
        reset_mail_cap_per_identifier=1_000_000,
        reset_mail_cap_per_account=1_000_000,
    )
    service = build(settings)
    await service.start()
    await serving()


async def measure(dead_token: bool) -> None:
    namespace, database_url = fresh_names()
    async with temporary_database(database_url):
        with server(MODULE, "--serve", "--namespace", namespace, "--db", database_url):
            rpc = RpcClient(AMQP_URL, Topology(namespace), timeout_s=30)
            await rpc.connect()
            known = [f"{uuid.uuid4().hex}@example.com" for _ in range(USERS)]
            for email in known:
                body = {"email": email, "password": "benchmark-password-1"}
                assert (await rpc.call(v1.register, body))["ok"]
            # Well formed, never issued: the session look-up finds nothing, as for a stale one.
            dead = f"never-issued-session-token-{uuid.uuid4().hex}"
            extra = {"token": dead} if dead_token else {}
            known_ms: list[float] = []
            unknown_ms: list[float] = []
            for _ in range(ROUNDS):
                for email in known:
                    for target, times in ((email, known_ms), (f"x{email}", unknown_ms)):
                        start = time.perf_counter()
                        body = {"email": target, **extra}
                        reply = await rpc.call(v1.send_password_reset_token, body)
                        times.append((time.perf_counter() - start) * 1000)
                        assert reply["ok"], reply
            await rpc.close()
    await delete_namespace(namespace)
    ours, reference = statistics.median(known_ms), statistics.median(unknown_ms)
    print(
        f"median reset request: known {ours:.2f} ms, unknown {reference:.2f} ms"
        f" ({len(known_ms)} each, alternating)",
        flush=True,
    )
    report("reset_timing_dead_token" if dead_token else "reset_timing", ours, reference)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--namespace")
    parser.add_argument("--db")
    parser.add_argument(
        "--dead-token", action="store_true", help="pass a session token that names no session"
    )
    args = parser.parse_args()
    if args.serve:
        run_service(serve(args.namespace, args.db))
    else:
        asyncio.run(measure(args.dead_token))


if __name__ == "__main__":
    main()
