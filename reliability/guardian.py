"""`python -m reliability.guardian <harness pid> <state file>`: cleans up after a harness that
died without doing it (SIGKILL, a crash in the interpreter).

The harness starts this process first, as the leader of a new process group, and every
other child of the run in that group. While the harness lives it does nothing; once the
harness is gone it kills every other process of the group, stops the PostgreSQL clusters
and removes the directories listed in the state file (`pg_ctl <path> <datadir>` and
`remove <dir>` lines), then exits. Nothing outside its own group and files is touched.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path


def members(group: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if os.getpgid(int(entry)) == group:
                found.append(int(entry))
        except OSError:
            continue
    return found


def clean(state: Path) -> None:
    for pid in members(os.getpgrp()):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            continue
    lines = state.read_text().splitlines() if state.exists() else []
    for line in lines:
        kind, _, rest = line.partition(" ")
        if kind == "pg_ctl":
            tool, data = rest.split(" ", 1)
            user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
            subprocess.run(
                [*user, tool, "-D", data, "-m", "immediate", "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )
    for line in lines:
        kind, _, rest = line.partition(" ")
        if kind == "remove":
            shutil.rmtree(rest, ignore_errors=True)
    state.unlink(missing_ok=True)


def main() -> None:
    harness, state = int(sys.argv[1]), Path(sys.argv[2])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the harness cleaned up itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while os.getppid() == harness:
        time.sleep(0.5)
    clean(state)


if __name__ == "__main__":
    main()
