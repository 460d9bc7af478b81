"""The lab (nodes shared by a run's scenarios) and the bench (one scenario on its own
namespace and database, its Gatehouse processes, its load, its audit)."""

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg

from contracts.topology import Topology
from reliability import audit, report, tap
from reliability.cleanup import GUARDIAN, REAPER, end_process, spawn
from reliability.gatehouse import CHANNEL, Deployment, Target, code_root
from reliability.load import ROUTING
from reliability.postgres import PostgresCluster
from reliability.rabbit import RabbitCluster, RabbitNode
from reliability.records import Record, read

PREFIX = "ld"


@dataclass(frozen=True)
class Options:
    rate: float = 40.0  # see README: 70/s is past identity's argon2 ceiling on shared cores
    warmup_s: float = 5.0
    after_s: float = 15.0
    outage_s: float = 5.0
    kill_rounds: int = 5
    kill_every_s: float = 12.0
    timeout_s: float = 10.0
    settle_s: float = 45.0  # past the outbox relay's longest backoff (30 s)
    burst: int = 150  # requests in flight when a fault strikes (see `Bench.burst`)
    burst_lead_s: float = 0.3

    @classmethod
    def short(cls) -> "Options":
        """A few seconds of load per scenario, for the test suite."""
        return cls(
            rate=40.0,
            warmup_s=2.0,
            after_s=4.0,
            outage_s=3.0,
            kill_rounds=2,
            kill_every_s=4.0,
            settle_s=20.0,
        )


class Lab:
    """A run's PostgreSQL cluster and RabbitMQ node or cluster, started when first needed."""

    def __init__(self, keep: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="gatehouse-faults-"))
        self.run_id = self.root.name.rsplit("-", 1)[-1].lower()[:6]
        self.keep = keep
        self._handle = REAPER.add("lab directory", self._remove)
        if not keep:
            GUARDIAN.note(f"remove {self.root}")
        self.pg: PostgresCluster | None = None
        self._rabbits: dict[int, RabbitCluster] = {}

    async def postgres(self) -> PostgresCluster:
        if self.pg is None:
            self.pg = PostgresCluster()
            await asyncio.to_thread(self.pg.init)
            await self.pg.astart()
        return self.pg

    async def rabbit(self, size: int = 1) -> RabbitCluster:
        if size not in self._rabbits:
            cluster = RabbitCluster(self.root / f"rabbit{size}", f"{self.run_id}s{size}", size)
            self._rabbits[size] = cluster
            await cluster.start()
        return self._rabbits[size]

    def release(self, size: int) -> None:
        """Stop the broker of that size, if it runs."""
        cluster = self._rabbits.pop(size, None)
        if cluster is not None:
            cluster.stop()

    def close(self) -> None:
        for size in list(self._rabbits):
            self.release(size)
        if self.pg is not None:
            self.pg.destroy()
            self.pg = None
        REAPER.run(self._handle)

    def _remove(self) -> None:
        if self.keep:
            print(f"# kept {self.root}", file=sys.stderr)
        else:
            shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class Bench:
    lab: Lab
    scenario: str
    options: Options
    brokers: RabbitCluster
    replicas: int = 1
    findings: audit.Findings = field(default_factory=audit.Findings)
    records: list[Record] = field(default_factory=list)  # the harness's own (poison)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.namespace = f"faults_{self.scenario}"
        self.topology = Topology(self.namespace)
        self.run_dir = self.lab.root / self.scenario
        self.run_dir.mkdir()
        self.load_out = self.run_dir / "requests.jsonl"
        self._load: subprocess.Popen[bytes] | None = None
        self._load_handle: int | None = None
        self.deployment: Deployment | None = None
        self.target: Target | None = None

    @property
    def node(self) -> RabbitNode:
        """The node the load, the tap and the channel use (it stays up)."""
        return self.brokers.first

    @property
    def url(self) -> str:
        return self.node.url

    async def __aenter__(self) -> "Bench":
        pg = await self.lab.postgres()
        database_url = await pg.create_database(self.namespace)
        self.target = Target(database_url, self.namespace, self.run_dir)
        await tap.declare(self.url, self.topology)
        brokers = [n.url for n in self.brokers.nodes[: max(1, len(self.brokers.nodes) - 1)]]
        self.deployment = Deployment(self.target, brokers, self.replicas)
        starting = time.monotonic()
        await self.deployment.start()
        self.extra["start_s"] = round(time.monotonic() - starting, 1)
        if len(self.brokers.nodes) > 1:
            self.extra["placement"] = await self._placement()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop_load()
        if self.deployment is not None:
            await asyncio.to_thread(self.deployment.stop)
        await self._delete_queues()

    # load ---------------------------------------------------------------------------------

    async def start_load(self, seconds: float = 600.0) -> float:
        """Start the load process; returns the epoch at which its open loop began. It sends
        for at most `seconds`: a scenario ends it with `finish_load`."""
        assert self.target is not None
        argv = [
            sys.executable,
            "-m",
            "reliability.load",
            "--namespace",
            self.namespace,
            "--out",
            str(self.load_out),
            "--prefix",
            PREFIX,
            "--rate",
            str(self.options.rate),
            "--seconds",
            str(seconds),
            "--timeout",
            str(self.options.timeout_s),
            "--burst",
            str(self.options.burst),
        ]
        self._load = self._spawn(argv)
        self._load_handle = REAPER.add("load", self.stop_load)
        assert self._load.stdout is not None
        line = (await asyncio.to_thread(self._load.stdout.readline)).decode()
        if not line.startswith("started "):
            raise RuntimeError(f"load did not start ({line!r}); see {self.run_dir / 'load.log'}")
        return float(line.split()[1])

    def _spawn(self, argv: list[str]) -> subprocess.Popen[bytes]:
        assert self.target is not None
        with (self.run_dir / "load.log").open("ab") as log:
            return spawn(
                argv,
                env=self.target.env(self.url),
                cwd=code_root(),
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )

    async def finish_load(self, at: float) -> None:
        """Let the load send until `at` (epoch), then wait for its last replies."""
        await self.until(at)
        assert self._load is not None
        self._load.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(self._load.wait, self.options.timeout_s * 4)
        if code != 0:
            raise RuntimeError(f"load exited with {code}; see {self.run_dir / 'load.log'}")
        assert self._load.stdout is not None
        for line in self._load.stdout.read().decode().splitlines():
            if line.startswith("done "):
                self.extra.update(json.loads(line.removeprefix("done ")))
        self.stop_load()

    def stop_load(self) -> None:
        if self._load is not None:
            end_process(self._load)
            self._load = None
        if self._load_handle is not None:
            REAPER.forget(self._load_handle)
            self._load_handle = None

    async def burst(self) -> None:
        """A burst of requests from the load, so the fault that follows finds work in flight:
        commands handled but not yet acknowledged, codes stored but not yet delivered. At an
        even 70/s a fault often lands between two commands and proves little."""
        assert self._load is not None
        self._load.send_signal(signal.SIGUSR1)
        await asyncio.sleep(self.options.burst_lead_s)

    async def drained(self, timeout_s: float = 60.0) -> None:
        """Until the queues the load feeds hold no ready message (the backlog of the last
        fault is worked off), so the next fault strikes a system in its steady state."""
        queues = [self.topology.command_queue(rk) for rk in ROUTING.values()]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not any(await _depths(self.url, queues)):
                return
            await asyncio.sleep(0.5)

    @staticmethod
    async def until(epoch: float) -> None:
        await asyncio.sleep(max(0.0, epoch - time.time()))

    # audit --------------------------------------------------------------------------------

    async def settle(self) -> None:
        """Until the queues the load feeds are empty, every event is published and the
        effects stop changing (or `settle_s` passes): redeliveries finish first."""
        assert self.target is not None
        queues = [self.topology.command_queue(rk) for rk in ROUTING.values()]
        queues.append(self.topology.consumer_queue("channel", CHANNEL))
        deadline = time.monotonic() + self.options.settle_s
        last: tuple[int, ...] | None = None
        while time.monotonic() < deadline:
            state = await _depths(self.url, queues) + await _counts(self.target.database_url)
            if state == last and not any(state[: len(queues)]) and state[len(queues)] == 0:
                return
            last = state
            await asyncio.sleep(1.0)

    async def audit(self, fault_ends: list[float]) -> report.Result:
        assert self.target is not None
        settling = time.monotonic()
        await self.settle()
        self.extra["settle_s"] = round(time.monotonic() - settling, 1)
        records = read(self.load_out) + self.records
        snap = await audit.Snapshot.take(self.target.database_url, PREFIX)
        events = await tap.drain(self.url, self.topology)
        found = self.findings
        audit.audit_registrations(records, snap, found)
        audit.audit_logins(records, snap, found)
        audit.audit_codes(records, snap, audit.read_deliveries(self.target.deliveries), found)
        audit.audit_events(snap, events, found, ignore=set(self.extra.pop("ignore_events", ())))
        audit.audit_poison(records, found)
        audit.audit_probes(records, found)
        first = min(fault_ends, default=time.time())
        lags = {
            "before": report.event_lag_ms(snap.event_lags, 0.0, first),
            "after": report.event_lag_ms(snap.event_lags, max(fault_ends, default=first) + 2.0),
        }
        extra = {"event_lag_ms": lags, **self.extra}
        return report.build(self.scenario, records, found, fault_ends, extra)

    async def _placement(self) -> dict[str, Any]:
        """Where this namespace's quorum queues live: proof that they are replicated."""
        listed = await self.node.actl(
            "list_queues", "name", "type", "leader", "members", "--quiet", "--no-table-headers"
        )
        size = len(self.brokers.nodes)
        queues = replicated = 0
        leaders: dict[str, int] = {}
        for line in listed.splitlines():
            parts = line.split("\t")
            if len(parts) < 4 or not parts[0].startswith(self.namespace) or parts[1] != "quorum":
                continue
            queues += 1
            replicated += parts[3].count("@") == size
            node = parts[2].split("@")[0][-2:]
            leaders[node] = leaders.get(node, 0) + 1
        return {"quorum queues": queues, f"on all {size} nodes": replicated, "leaders": leaders}

    async def _delete_queues(self) -> None:
        if self.node.proc is None:
            return
        try:
            listed = await self.node.actl("list_queues", "name", "--quiet", "--no-table-headers")
            connection = await aio_pika.connect(self.url)
            async with connection:
                channel = await connection.channel()
                for name in listed.split():
                    if name.startswith(f"{self.namespace}."):
                        await channel.queue_delete(name)
        except Exception as exc:  # the node goes away with the lab anyway
            print(f"# could not delete {self.namespace} queues: {exc!r}", file=sys.stderr)


async def _depths(url: str, queues: list[str]) -> tuple[int, ...]:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        depths = []
        for name in queues:
            try:
                declared = await channel.declare_queue(name, passive=True)
                depths.append(declared.declaration_result.message_count or 0)
            except aio_pika.exceptions.ChannelClosed:
                channel = await connection.channel()
                depths.append(0)
        return tuple(depths)


async def _counts(database_url: str) -> tuple[int, ...]:
    con = await asyncpg.connect(database_url)
    try:
        row = await con.fetchrow(
            "SELECT (SELECT count(*) FROM identity.outbox WHERE published_at IS NULL),"
            " (SELECT count(*) FROM identity.users), (SELECT count(*) FROM identity.sessions),"
            " (SELECT count(*) FROM verification.codes)"
        )
    finally:
        await con.close()
    return tuple(row)
