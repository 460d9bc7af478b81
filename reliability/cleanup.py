"""Everything a run starts is registered here and stopped in reverse order: when the run ends,
at interpreter exit, and on SIGTERM/SIGINT. Only what this process started is ever stopped,
by its own pid, never by name.

Every child runs in one process group led by a guardian (`reliability.guardian`), which
cleans up if this process dies without doing it (SIGKILL): nodes and services must not
outlive the harness on a machine others share.
"""

import atexit
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from itertools import count
from pathlib import Path
from types import FrameType
from typing import Any

log = logging.getLogger("reliability")

Stop = Callable[[], None]


class Reaper:
    def __init__(self) -> None:
        self._stops: dict[int, tuple[str, Stop]] = {}
        self._ids = count()

    def add(self, what: str, stop: Stop) -> int:
        handle = next(self._ids)
        self._stops[handle] = (what, stop)
        return handle

    def run(self, handle: int) -> None:
        """Stop one thing now and forget it."""
        entry = self._stops.pop(handle, None)
        if entry is not None:
            _stop(*entry)

    def forget(self, handle: int) -> None:
        self._stops.pop(handle, None)

    def reap(self) -> None:
        while self._stops:
            handle = max(self._stops)
            _stop(*self._stops.pop(handle))


def _stop(what: str, stop: Stop) -> None:
    try:
        stop()
    except Exception as exc:  # keep stopping the rest
        log.warning("stopping %s failed: %s: %s", what, type(exc).__name__, exc)


REAPER = Reaper()
atexit.register(REAPER.reap)


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    # SystemExit unwinds the stack, so every `finally` runs before the atexit reaper.
    raise SystemExit(128 + signum)


def install_signal_handlers() -> None:
    """For the command line: a SIGTERM or Ctrl-C still stops every node and process."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)


def free_port() -> int:
    """A TCP port nothing listens on right now (the kernel's pick, on the loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Guardian:
    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.state: Path | None = None

    def group(self) -> int:
        if self.proc is None:
            fd, name = tempfile.mkstemp(prefix="gatehouse-faults-guard-")
            os.close(fd)
            self.state = Path(name)
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "reliability.guardian", str(os.getpid()), name],
                cwd=Path(__file__).resolve().parent.parent,
                stdin=subprocess.DEVNULL,
                process_group=0,
            )
            REAPER.add("guardian", self.stop)
        return self.proc.pid

    def note(self, line: str) -> None:
        self.group()
        assert self.state is not None
        with self.state.open("a") as state:
            state.write(line + "\n")

    def stop(self) -> None:
        if self.proc is not None:
            end_process(self.proc)
            self.proc = None
        if self.state is not None:
            self.state.unlink(missing_ok=True)


GUARDIAN = _Guardian()


def spawn(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """`subprocess.Popen` in the run's process group."""
    return subprocess.Popen(argv, process_group=GUARDIAN.group(), **kwargs)


def end_process(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `timeout_s`, to a process this harness started."""
    if proc.poll() is not None:
        return
    _signal(proc, signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        _signal(proc, signal.SIGKILL)
        proc.wait(5)


def kill_process(proc: subprocess.Popen[bytes]) -> None:
    """`kill -9` of a process this harness started."""
    if proc.poll() is None:
        _signal(proc, signal.SIGKILL)
        proc.wait(5)


def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
