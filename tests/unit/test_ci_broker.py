""".ci/broker.sh stops and resets only this machine's own RabbitMQ node, found by the pid in
its pid file, never by a process name; run here against a fake node, never the real one."""

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE = "rabbit@fakenode"


class FakeMachine:
    """A mnesia directory, a stand-in `beam.smp` per node, and a `rabbitmqctl` that never
    answers (the node is wedged), all under tmp_path."""

    def __init__(self, tmp_path: Path) -> None:
        self.base = tmp_path / "mnesia"
        self.base.mkdir()
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.beam = self.bin / "beam.smp"
        shutil.copy(shutil.which("sleep") or "/bin/sleep", self.beam)
        ctl = self.bin / "rabbitmqctl"
        ctl.write_text("#!/bin/sh\nexit 69\n")
        ctl.chmod(0o755)
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, program: Path) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([str(program), "300"])
        # Reaped as soon as it exits, so `kill -0` sees it gone rather than a zombie.
        threading.Thread(target=process.wait, daemon=True).start()
        self.processes.append(process)
        return process

    def run(self, script: str, **env: str) -> subprocess.CompletedProcess[str]:
        environment = {
            **os.environ,
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "RABBITMQ_MNESIA_BASE": str(self.base),
            "RABBITMQ_NODENAME": NODE,
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "absent.conf"),
            **env,
        }
        return subprocess.run(
            ["bash", "-c", f"set -u; source .ci/broker.sh; {script}"],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def stop_all(self) -> None:
        for process in self.processes:
            process.kill()


@pytest.fixture
def machine(tmp_path):
    fake = FakeMachine(tmp_path)
    yield fake
    fake.stop_all()


def alive(process: subprocess.Popen[bytes]) -> bool:
    time.sleep(0.1)
    return process.poll() is None


def test_a_wedged_node_is_stopped_by_its_pid_file_and_another_node_keeps_running(machine):
    ours, other = machine.start(machine.beam), machine.start(machine.beam)
    (machine.base / f"{NODE}.pid").write_text(f"{ours.pid}\n")
    done = machine.run("stop_local_broker")
    assert done.returncode == 0, done.stderr
    assert f"pid {ours.pid}" in done.stderr
    assert not alive(ours)
    assert alive(other)


def test_a_stale_pid_file_naming_another_program_stops_nothing(machine):
    sleeper = machine.start(Path(shutil.which("sleep") or "/bin/sleep"))
    (machine.base / f"{NODE}.pid").write_text(str(sleeper.pid))
    done = machine.run("stop_local_broker")
    assert done.returncode == 1
    assert "nothing stopped" in done.stderr
    assert alive(sleeper)


def test_without_a_pid_file_nothing_is_stopped(machine):
    other = machine.start(machine.beam)
    done = machine.run("stop_local_broker")
    assert done.returncode == 1
    assert alive(other)


def test_a_reset_removes_only_the_local_nodes_state(machine):
    for name in (NODE, f"{NODE}-feature_flags", f"{NODE}-plugins-expand", "rabbit@other"):
        (machine.base / name).mkdir()
    (machine.base / f"{NODE}.pid").write_text("1")
    (machine.base / "rabbit@other.pid").write_text("2")
    done = machine.run("reset_local_broker_state")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in machine.base.iterdir()) == ["rabbit@other", "rabbit@other.pid"]


def test_the_node_name_comes_from_rabbitmq_env_conf_like_the_server_reads_it(machine):
    conf = machine.base / "rabbitmq-env.conf"
    conf.write_text("NODENAME=rabbit@localhost\nERL_EPMD_ADDRESS=127.0.0.1\n")
    done = machine.run(
        "rabbit_nodename; rabbit_pid_file",
        RABBITMQ_NODENAME="",
        RABBITMQ_CONF_ENV_FILE=str(conf),
    )
    assert done.stdout.split() == ["rabbit@localhost", f"{machine.base}/rabbit@localhost.pid"]


def test_ci_run_names_no_process_by_pattern():
    script = (ROOT / ".ci" / "run").read_text() + (ROOT / ".ci" / "broker.sh").read_text()
    for forbidden in ("pkill", "killall", "pgrep"):
        assert forbidden not in script
