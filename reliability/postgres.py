"""A PostgreSQL 15 cluster of our own: initdb in a temp dir, a free port, trust auth.

The server refuses to run as root, so as root every command runs as `postgres` (runuser) in
a directory that user owns.
"""

import asyncio
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import asyncpg

from reliability.cleanup import GUARDIAN, REAPER, free_port

BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"),)
SERVER_USER = "postgres"


def binaries() -> Path | None:
    """The directory holding `initdb` and `pg_ctl` (`RELIABILITY_PG_BIN` names it where it is
    elsewhere), or None."""
    override = os.environ.get("RELIABILITY_PG_BIN")
    for candidate in (Path(override),) if override is not None else BIN_DIRS:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    return None


def _as_server_user() -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []


def usable() -> bool:
    if binaries() is None:
        return False
    return os.geteuid() != 0 or shutil.which("runuser") is not None


class PostgresCluster:
    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="gatehouse-faults-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.base, SERVER_USER, SERVER_USER)
        self.data = self.base / "data"
        self.port = free_port()
        self._handle = REAPER.add(f"postgresql on port {self.port}", self.destroy)
        bin_dir = binaries()
        assert bin_dir is not None, "PostgreSQL binaries not found"
        GUARDIAN.note(f"pg_ctl {bin_dir / 'pg_ctl'} {self.data}")
        GUARDIAN.note(f"remove {self.base}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str) -> None:
        bin_dir = binaries()
        assert bin_dir is not None, "PostgreSQL binaries not found"
        subprocess.run(
            [*_as_server_user(), str(bin_dir / tool), *args],
            cwd=self.base,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c max_connections=300"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.base / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    async def astop(self, mode: str = "fast") -> None:
        await asyncio.to_thread(self.stop, mode)

    async def create_database(self, name: str) -> str:
        con = await asyncpg.connect(self.url())
        try:
            await con.execute(f'CREATE DATABASE "{name}"')
        finally:
            await con.close()
        return self.url(name)

    async def terminate_backends(self, database: str, application_prefix: str) -> int:
        """`pg_terminate_backend` of every connection of `database` whose application_name
        starts with `application_prefix`; returns how many were terminated."""
        con = await asyncpg.connect(self.url())
        try:
            return int(
                await con.fetchval(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = $1 AND application_name LIKE $2 || '%'",
                    database,
                    application_prefix,
                )
            )
        finally:
            await con.close()

    def destroy(self) -> None:
        if self.running():
            try:
                self.stop("immediate")
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                _kill_postmaster(self.data)
        shutil.rmtree(self.base, ignore_errors=True)
        REAPER.forget(self._handle)


def _kill_postmaster(data: Path) -> None:
    """The postmaster of our own data directory, by the pid it wrote there."""
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, 9)
    except (OSError, ValueError, IndexError):
        pass
