"""The lab: the nodes a run's scenarios share (a PostgreSQL cluster, a RabbitMQ node, a
three-node cluster), each started when first needed, and the options of a run."""

import asyncio
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from reliability.cleanup import GUARDIAN, REAPER
from reliability.postgres import PostgresCluster
from reliability.rabbit import RabbitCluster


@dataclass(frozen=True)
class Options:
    rate: float = 40.0  # docs/fault-suite.md: 70/s is past the argon2 ceiling on shared cores
    warmup_s: float = 5.0
    after_s: float = 15.0
    outage_s: float = 5.0
    kill_rounds: int = 5
    kill_every_s: float = 12.0
    timeout_s: float = 10.0
    settle_s: float = 45.0  # past the outbox relay's longest backoff (30 s)
    # Requests in flight when a fault strikes (see `Bench.burst`): the 60% that are sends must
    # outnumber verification's prefetch (64) well enough to back its queue up for a while.
    burst: int = 300
    burst_lead_s: float = 3.0  # at most, waiting for the burst to back up

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
