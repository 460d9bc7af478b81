"""Shared plumbing for benchmarks: a throwaway namespace and database, subprocess servers,
and the closing JSON line."""

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from services.ops.scratch import delete_prefixed, drop_database
from services.ops.system import SystemSettings
from services.runtime import db

# Servers run as `python -m benchmarks.<name>` from here, as docs/benchmarks.md runs them.
ROOT = Path(__file__).resolve().parent.parent
AMQP_URL = os.environ.get("GATEHOUSE_AMQP_URL", "amqp://guest:guest@localhost:5672/")
ADMIN_DB_URL = os.environ.get(
    "GATEHOUSE_TEST_ADMIN_DATABASE_URL", "postgresql://postgres@localhost:5432/postgres"
)


def fresh_names() -> tuple[str, str]:
    run = uuid.uuid4().hex[:8]
    return f"bench-{run}", urlsplit(ADMIN_DB_URL)._replace(path=f"/gatehouse_bench_{run}").geturl()


@asynccontextmanager
async def temporary_database(url: str):
    await db.ensure_database(url)
    try:
        yield url
    finally:
        await drop_database(ADMIN_DB_URL, urlsplit(url).path.lstrip("/"))


READY = "ready"


async def serving() -> None:
    """The server's side of `server()`: say it is up, then serve until terminated."""
    print(READY, flush=True)
    await asyncio.Event().wait()


def service_settings(namespace: str, database_url: str, **overrides: Any) -> SystemSettings:
    """Settings of the services a benchmark runs: as deployed (prod), on its throwaway
    namespace and database, with limits a load test would trip lifted by `overrides`."""
    return SystemSettings(
        amqp_url=AMQP_URL,
        database_url=database_url,
        namespace=namespace,
        mode="prod",
        code_hmac_key="benchmark-code-hmac-key-0123456789abcdefgh",
        reply_key="benchmark-reply-key-0123456789abcdefghijklm",
        **overrides,
    )


@contextmanager
def server(module: str, *args: str, env: dict[str, str] | None = None):
    """Run `python -m <module> --serve ...` from the repository root and wait for it to say
    it is up (`serving()`)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != READY:
            raise RuntimeError(f"server did not start: {line!r}")
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def throughput(call: Callable[[], Awaitable[Any]], concurrency: int, total: int) -> float:
    """Calls per second with `concurrency` callers sharing `total` calls."""
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - start)


def cpu_seconds(service_pid: int) -> dict[str, float]:
    """CPU seconds used so far (Linux `/proc`): the service process's event loop thread and its
    other threads, this process (the caller), RabbitMQ and PostgreSQL. Two snapshots around a
    round show where a request's CPU goes when the machine is the bottleneck."""
    used: dict[str, float] = {}

    def add(group: str, stat_path: str) -> None:
        with open(stat_path) as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2 :].split()
        used[group] = used.get(group, 0.0) + (int(fields[11]) + int(fields[12])) / _TICKS

    for task in os.listdir(f"/proc/{service_pid}/task"):
        group = "service loop" if int(task) == service_pid else "service threads"
        add(group, f"/proc/{service_pid}/task/{task}/stat")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            shared = _SHARED.get(comm) or ("caller" if int(pid) == os.getpid() else None)
            if shared:
                add(shared, f"/proc/{pid}/stat")
        except OSError:  # the process ended meanwhile
            continue
    return used


def cpu_per_op(before: dict[str, float], after: dict[str, float], ops: float) -> str:
    """`group 1.23` milliseconds of CPU per operation, biggest first."""
    spent = {group: (after[group] - before.get(group, 0.0)) / ops * 1000 for group in after}
    return ", ".join(f"{g} {ms:.2f}" for g, ms in sorted(spent.items(), key=lambda i: -i[1]))


_TICKS = os.sysconf("SC_CLK_TCK")
_SHARED = {"beam.smp": "broker", "postgres": "database"}


def report(name: str, ours: float, reference: float, **extra: Any) -> None:
    print(
        json.dumps(
            {
                "name": name,
                "ours": round(ours, 1),
                "reference": round(reference, 1),
                "ratio": round(ours / reference, 3),
                **extra,
            }
        )
    )


async def delete_namespace(namespace: str) -> None:
    """Remove the benchmark's queues and exchanges (names are listed by rabbitmqctl)."""
    await delete_prefixed(AMQP_URL, namespace)


async def print_cpu_per_call(
    label: str, call: Callable[[], Awaitable[Any]], pid: int, concurrency: int, total: int
) -> None:
    """One more round of `call`, printing where its CPU went (service `pid`, broker, database,
    caller): information beside a benchmark's figure, not the figure itself."""
    before = cpu_seconds(pid)
    await throughput(call, concurrency, total)
    print(f"CPU per {label}, ms: {cpu_per_op(before, cpu_seconds(pid), total)}", flush=True)
