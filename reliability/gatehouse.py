"""Gatehouse under test: each service a separate OS process (`faststream run`), as deployed,
so that `kill -9` is real; and the recording custom channel beside them."""

import asyncio
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from reliability.cleanup import REAPER, end_process, free_port, kill_process, spawn

ROOT = Path(__file__).resolve().parent.parent


def code_root() -> Path:
    """The Gatehouse tree under test: this one, or another checkout (`RELIABILITY_CODE`,
    `python -m reliability --code`)."""
    return Path(os.environ.get("RELIABILITY_CODE", ROOT)).resolve()


SERVICES = ("verification", "identity", "notifier")
CHANNEL = "faults"


@dataclass(frozen=True)
class Target:
    """Where one scenario's Gatehouse lives: its broker, database and namespace."""

    database_url: str
    namespace: str
    run_dir: Path
    hmac_key: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)
    reply_key: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)

    @property
    def deliveries(self) -> Path:
        return self.run_dir / "deliveries.jsonl"

    def env(self, amqp_url: str, **extra: str) -> dict[str, str]:
        # Nothing of the caller's GATEHOUSE_* settings leaks in: they may name shared servers.
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
        return {
            **env,
            # The tree under test first; this harness (`reliability`) from here.
            "PYTHONPATH": os.pathsep.join(
                dict.fromkeys(filter(None, [str(code_root()), str(ROOT), env.get("PYTHONPATH")]))
            ),
            "GATEHOUSE_AMQP_URL": amqp_url,
            "GATEHOUSE_DATABASE_URL": self.database_url,
            "GATEHOUSE_NAMESPACE": self.namespace,
            "GATEHOUSE_MODE": "prod",
            "GATEHOUSE_CODE_HMAC_KEY": self.hmac_key,
            "GATEHOUSE_REPLY_KEY": self.reply_key,
            "GATEHOUSE_QUEUE_TYPE": "quorum",
            # Codes go to the recording custom channel only; no SMTP or SMS provider runs.
            "GATEHOUSE_NOTIFY_CHANNELS": "[]",
            "GATEHOUSE_LOG_LEVEL": "WARNING",
            **extra,
        }


class Process:
    """One child process in its own process group, with its output in a log file."""

    def __init__(self, label: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.label = label
        self.argv = argv
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self._handle: int | None = None
        self.started_at = 0.0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = spawn(
                self.argv,
                env=self.env,
                cwd=code_root(),  # `faststream run` puts its working directory first on sys.path
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.started_at = time.time()
        self._handle = REAPER.add(self.label, self.kill)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """`kill -9`."""
        if self.proc is not None:
            kill_process(self.proc)
        self._forget()

    def stop(self) -> None:
        if self.proc is not None:
            end_process(self.proc, timeout_s=20)
        self._forget()

    def rss_mb(self) -> float | None:
        try:
            with open(f"/proc/{self.pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except (OSError, AssertionError):
            return None
        return None

    def _forget(self) -> None:
        if self._handle is not None:
            REAPER.forget(self._handle)
            self._handle = None


class ServiceProcess(Process):
    """`faststream run services.<name>.app:app`, ready when its `/readyz` says so."""

    def __init__(self, name: str, replica: int, env: dict[str, str], run_dir: Path) -> None:
        self.name = name
        self.replica = replica
        self.http_port = free_port()
        argv = [sys.executable, "-m", "faststream", "run", f"services.{name}.app:app"]
        env = {**env, "GATEHOUSE_HTTP_PORT": str(self.http_port)}
        super().__init__(f"{name}#{replica}", argv, env, run_dir / f"{name}-{replica}.log")

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.label} exited; see {self.log}")
            if await _ready(self.http_port):
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{self.label} not ready within {timeout_s:g}s; see {self.log}")


async def _ready(port: int) -> bool:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 10)
        return b" 200 " in status
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()


async def _appears(path: Path, process: Process, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(path.exists):
        if not process.alive():
            raise RuntimeError(f"{process.label} exited; see {process.log}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{process.label} not ready within {timeout_s:g}s")
        await asyncio.sleep(0.1)


class Deployment:
    """Replicas of every service, each connected to one broker URL, and the channel."""

    def __init__(self, target: Target, broker_urls: list[str], replicas: int = 1) -> None:
        self.target = target
        self.services = [
            ServiceProcess(name, r, target.env(broker_urls[r % len(broker_urls)]), target.run_dir)
            for r in range(replicas)
            for name in SERVICES
        ]
        self.channel = Process(
            "channel",
            [sys.executable, "-m", "reliability.channel"],
            target.env(
                broker_urls[0],
                RELIABILITY_DELIVERIES=str(target.deliveries),
                RELIABILITY_CHANNEL=CHANNEL,
            ),
            target.run_dir / "channel.log",
        )

    def of(self, name: str, replica: int | None = None) -> list[ServiceProcess]:
        return [s for s in self.services if s.name == name and replica in (None, s.replica)]

    async def start(self) -> None:
        # One replica set first: migrations run once, the others find nothing to do.
        for replica in sorted({s.replica for s in self.services}):
            batch = [s for s in self.services if s.replica == replica]
            for service in batch:
                service.start()
            await asyncio.gather(*(s.wait_ready() for s in batch))
        # After verification: it declares the channel's queue when the channel announces it.
        self.channel.start()
        await _appears(self.target.deliveries.with_suffix(".ready"), self.channel)

    async def restart(self, service: ServiceProcess) -> None:
        service.start()
        await service.wait_ready()

    def rss_mb(self) -> dict[str, float | None]:
        """VmRSS of every service process, by `name#replica`."""
        return {s.label: s.rss_mb() for s in self.services}

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.channel.stop()
