"""RabbitMQ nodes of our own: free ports, a temp dir, a raised file limit, no plugins.

The Debian `rabbitmq-server` and `rabbitmqctl` in PATH are wrappers that switch to the
`rabbitmq` user and its home (and so to the machine's own node's cookie); the scripts they
wrap are called directly, with HOME pointing at a directory holding this run's cookie.
"""

import asyncio
import os
import resource
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

from reliability.cleanup import REAPER, end_process, free_port, kill_process, spawn

SCRIPT_DIRS = (Path("/usr/lib/rabbitmq/bin"), Path("/usr/lib/rabbitmq/sbin"))
# A node that declares a few hundred quorum queues with the default 1024 descriptors stops
# answering AMQP handshakes (Gatehouse issue 12): ask for the hard limit, at most 65536.
OPEN_FILES = 65536


def scripts() -> Path | None:
    """The directory of the real `rabbitmq-server` and `rabbitmqctl` (`RELIABILITY_RABBITMQ_BIN`
    names it where it is elsewhere), or None."""
    override = os.environ.get("RELIABILITY_RABBITMQ_BIN")
    if override is not None:
        return Path(override) if (Path(override) / "rabbitmq-server").exists() else None
    for candidate in SCRIPT_DIRS:
        if (candidate / "rabbitmq-server").exists():
            return candidate
    found = shutil.which("rabbitmq-server")
    if found is None:
        return None
    real = Path(found).resolve()
    return real.parent if real.name == "rabbitmq-server" else None


def _raise_file_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES if hard == resource.RLIM_INFINITY else min(OPEN_FILES, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


class RabbitNode:
    def __init__(self, base: Path, name: str, *, home: Path, extra_config: str = "") -> None:
        self.base = base
        self.name = f"{name}@localhost"
        self.home = home
        self.amqp_port = free_port()
        self.dist_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._handle: int | None = None
        base.mkdir(parents=True, exist_ok=True)
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.amqp_port}\n"
            "log.console = false\nlog.file.level = warning\n" + extra_config
        )
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq-env.conf").write_text("")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        return {
            **env,
            "HOME": str(self.home),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(self.base / "pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self) -> None:
        bin_dir = scripts()
        assert bin_dir is not None, "rabbitmq-server is not installed"
        log = (self.base / "console.log").open("ab")
        self.proc = spawn(
            [str(bin_dir / "rabbitmq-server")],
            env=self.env(),
            cwd=self.base,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_raise_file_limit,
        )
        log.close()
        self._handle = REAPER.add(f"rabbitmq node {self.name}", self.kill)

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until the node answers an AMQP protocol header (the listener starts last)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see {self.base / 'console.log'}")
            if await asyncio.to_thread(_answers_amqp, self.amqp_port):
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.name} did not answer AMQP within {timeout_s:g}s")

    def ctl(self, *args: str, timeout_s: float = 60.0) -> str:
        bin_dir = scripts()
        assert bin_dir is not None
        done = subprocess.run(
            [str(bin_dir / "rabbitmqctl"), "-n", self.name, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} on {self.name}: {done.stderr[-500:]}")
        return done.stdout

    async def actl(self, *args: str, timeout_s: float = 60.0) -> str:
        return await asyncio.to_thread(self.ctl, *args, timeout_s=timeout_s)

    def stop(self) -> None:
        """A graceful stop: SIGTERM, which the node handles as `rabbitmqctl stop` does
        (connections closed, queues stopped, then halt), but at once rather than after the
        second or so a CLI node takes to boot, so a scenario knows when it strikes."""
        if self.proc is None:
            return
        end_process(self.proc, timeout_s=60)
        self._forget()

    def kill(self) -> None:
        if self.proc is not None:
            kill_process(self.proc)
        self._forget()

    def _forget(self) -> None:
        self.proc = None
        if self._handle is not None:
            REAPER.forget(self._handle)
            self._handle = None


def _answers_amqp(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 1) as s:
            s.settimeout(3)
            s.sendall(b"AMQP\x00\x00\x09\x01")
            return bool(s.recv(8))
    except OSError:
        return False


def make_home(base: Path) -> Path:
    """A HOME with a fresh Erlang cookie, shared by the nodes of one cluster and their CLI."""
    home = base / "home"
    home.mkdir(parents=True, exist_ok=True)
    cookie = home / ".erlang.cookie"
    cookie.write_text(secrets.token_hex(16).upper())
    cookie.chmod(0o400)
    return home


class RabbitCluster:
    """One node, or several joined into a cluster (`rabbitmqctl join_cluster`)."""

    def __init__(self, base: Path, run_id: str, size: int = 1) -> None:
        home = make_home(base)
        # `balanced` spreads quorum queue leaders over the nodes, so that stopping one node
        # moves real leaders (the default, client-local, puts them all where clients connect).
        extra = "queue_leader_locator = balanced\n" if size > 1 else ""
        self.nodes = [
            RabbitNode(base / f"node{i}", f"ghf{run_id}n{i}", home=home, extra_config=extra)
            for i in range(size)
        ]

    @property
    def first(self) -> RabbitNode:
        return self.nodes[0]

    async def start(self) -> None:
        for node in self.nodes:
            node.start()
        await asyncio.gather(*(node.wait_ready() for node in self.nodes))
        for node in self.nodes[1:]:
            await node.actl("stop_app")
            await node.actl("join_cluster", self.first.name)
            await node.actl("start_app")
            await node.wait_ready()

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()
