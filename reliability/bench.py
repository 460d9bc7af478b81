"""The bench: one scenario on its own namespace and database, with its Gatehouse processes,
its load process, its tap and its audit."""

import asyncio
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from contracts.topology import Topology
from reliability import audit, evidence, report, tap
from reliability.cleanup import REAPER, end_process, spawn
from reliability.gatehouse import CHANNEL, Deployment, Target, code_root
from reliability.lab import Lab, Options
from reliability.load import ROUTING
from reliability.observe import (
    backed_up,
    consuming,
    delete_queues,
    effect_counts,
    placement,
    queue_depths,
)
from reliability.rabbit import RabbitCluster, RabbitNode
from reliability.records import Record, read

PREFIX = "ld"
SETTLE_POLL_S = 0.2
SETTLED_S = 0.6  # longer than a command takes to handle once it leaves the queue


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
        self._bursts = (0, 0)  # (backed up, fired)
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
        ready = time.monotonic()
        self.extra["start_s"] = round(ready - starting, 1)
        queues = [self.topology.command_queue(rk) for rk in ROUTING.values()]
        await consuming(self.url, queues, self.replicas)
        self.extra["consuming after /readyz (s)"] = round(time.monotonic() - ready, 2)
        if len(self.brokers.nodes) > 1:
            size = len(self.brokers.nodes)
            self.extra["placement"] = await placement(self.node, self.namespace, size)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop_load()
        if self.deployment is not None:
            await asyncio.to_thread(self.deployment.stop)
        await delete_queues(self.node, self.namespace)

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
            # Each replica holds a prefetch of its own: a burst must back up all of them.
            str(self.options.burst * self.replicas),
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

    async def finish_load_on_recovery(
        self, fault_ends: list[float], at_least: float, at_most: float
    ) -> None:
        """Let the load send until `at_least` (epoch), then on until every kind of command
        is served again after the faults (`report.recovery`), or `at_most`; then as
        `finish_load`. A fixed window long enough for a loaded machine wastes seconds on an
        idle one."""
        await self.until(at_least)
        while time.time() < at_most:
            records = await asyncio.to_thread(read, self.load_out)
            if report.recovery(report.recovery_by_kind(records, fault_ends)) is not None:
                break
            await asyncio.sleep(0.2)
        await self.finish_load(time.time())

    def stop_load(self) -> None:
        if self._load is not None:
            end_process(self._load)
            self._load = None
        if self._load_handle is not None:
            REAPER.forget(self._load_handle)
            self._load_handle = None

    async def burst(self) -> None:
        """A burst of requests from the load, returning once it backs up in a queue (the
        services hold as many messages as their prefetch allows), so the fault that follows
        finds work in flight: commands handled but not yet acknowledged, codes stored but not
        yet delivered. At an even rate a fault often lands between two commands and proves
        little, and a fixed delay after the burst misses it on a fast machine."""
        assert self._load is not None
        queues = [self.topology.command_queue(rk) for rk in ROUTING.values()]
        load = self._load
        backed = await backed_up(
            self.url, queues, self.options.burst_lead_s, lambda: load.send_signal(signal.SIGUSR1)
        )
        self._bursts = (self._bursts[0] + backed, self._bursts[1] + 1)
        self.extra["bursts backed up"] = f"{self._bursts[0]}/{self._bursts[1]}"

    async def drained(self, timeout_s: float = 60.0) -> None:
        """Until the queues the load feeds hold no ready message (the backlog of the last
        fault is worked off), so the next fault strikes a system in its steady state."""
        queues = [self.topology.command_queue(rk) for rk in ROUTING.values()]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not any(await queue_depths(self.url, queues)):
                return
            await asyncio.sleep(0.5)

    @staticmethod
    async def until(epoch: float) -> None:
        await asyncio.sleep(max(0.0, epoch - time.time()))

    # audit --------------------------------------------------------------------------------

    async def settle(self) -> None:
        """Until the queues the load feeds are empty, every event is published and the
        effects have not changed for `SETTLED_S` (or `settle_s` passes): redeliveries
        finish first. Polled often, so that it ends soon after they do."""
        assert self.target is not None
        queues = [self.topology.command_queue(rk) for rk in ROUTING.values()]
        queues.append(self.topology.consumer_queue("channel", CHANNEL))
        deadline = time.monotonic() + self.options.settle_s
        last: tuple[int, ...] | None = None
        since = time.monotonic()
        while time.monotonic() < deadline:
            depths = await queue_depths(self.url, queues)
            state = depths + await effect_counts(self.target.database_url)
            if state != last or any(state[: len(queues)]) or state[len(queues)]:
                last, since = state, time.monotonic()
            elif time.monotonic() - since >= SETTLED_S:
                return
            await asyncio.sleep(SETTLE_POLL_S)

    async def audit(self, fault_ends: list[float]) -> report.Result:
        assert self.target is not None
        settling = time.monotonic()
        await self.settle()
        self.extra["settle_s"] = round(time.monotonic() - settling, 1)
        records = read(self.load_out) + self.records
        snap = await evidence.Snapshot.take(self.target.database_url, PREFIX)
        events = await tap.drain(self.url, self.topology)
        found = self.findings
        audit.audit_registrations(records, snap, found)
        audit.audit_logins(records, snap, found)
        audit.audit_codes(records, snap, evidence.read_deliveries(self.target.deliveries), found)
        audit.audit_events(snap, events, found)
        audit.audit_poison(records, found)
        audit.audit_probes(records, found)
        first = min(fault_ends, default=time.time())
        lags = {
            "before": report.event_lag_ms(snap.event_lags, 0.0, first),
            "after": report.event_lag_ms(snap.event_lags, max(fault_ends, default=first) + 2.0),
        }
        extra = {"event_lag_ms": lags, **self.extra}
        return report.build(self.scenario, records, found, fault_ends, extra)
