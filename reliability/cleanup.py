"""Everything a run starts is registered here and stopped in reverse order: when the run ends,
at interpreter exit, and on SIGTERM/SIGINT. Only what this process started is ever stopped,
by its own pid or process group, never by name."""

import atexit
import contextlib
import logging
import os
import signal
import socket
import subprocess
from collections.abc import Callable
from itertools import count
from types import FrameType

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


def end_process(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL, to the process group this harness created for `proc`."""
    if proc.poll() is not None:
        return
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait(5)


def kill_process(proc: subprocess.Popen[bytes]) -> None:
    """`kill -9` of the process group this harness created for `proc`."""
    if proc.poll() is None:
        _signal_group(proc, signal.SIGKILL)
        proc.wait(5)


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    # Every child is started with start_new_session=True: its pid is its own group's id.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
