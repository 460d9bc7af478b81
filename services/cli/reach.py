"""Which part a command could not reach, and how to get it running.

A refused connection looks the same from RabbitMQ and from PostgreSQL (`ConnectionRefusedError`),
so every command connects inside `reaching(part, url)`, which names the part. The message
gives the URL without its password and the command that starts the part on this machine, or
in containers: the project machines run both locally, a laptop may have Docker only.
"""

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import aio_pika
import asyncpg
from aio_pika.exceptions import AMQPError, ProbableAuthenticationError

Part = Literal["broker", "database"]
COMPOSE = "docker compose -f deploy/compose.yaml up -d rabbitmq postgres"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", ""}
# What a connect that never got an answer raises, from asyncpg and from aio-pika/aiormq.
UNREACHED = (OSError, TimeoutError, AMQPError, asyncpg.PostgresError, asyncpg.InterfaceError)


class Unreachable(Exception):
    """A command could not connect to `part` at `url` (the password already masked)."""

    def __init__(self, part: Part, url: str, cause: BaseException) -> None:
        super().__init__(f"{part} at {url}: {type(cause).__name__}: {cause}")
        self.part = part
        self.url = url
        self.cause = cause

    @property
    def not_running(self) -> bool:
        """Nothing answered (as opposed to a server that answered and refused us)."""
        return isinstance(
            self.cause, OSError | TimeoutError | asyncpg.CannotConnectNowError
        ) and not isinstance(self.cause, ProbableAuthenticationError)

    def explain(self) -> str:
        """The lines `gatehouse` prints before it exits non-zero."""
        name = "RabbitMQ" if self.part == "broker" else "PostgreSQL"
        setting = "GATEHOUSE_AMQP_URL" if self.part == "broker" else "GATEHOUSE_DATABASE_URL"
        cause = f"  {type(self.cause).__name__}: {self.cause}"
        if not self.not_running:
            return "\n".join(
                [
                    f"gatehouse: the {self.part} ({name}) at {self.url} refused the connection",
                    cause,
                    f"  check the user, password and database in {setting}",
                ]
            )
        lines = [f"gatehouse: cannot reach the {self.part} ({name}) at {self.url}", cause]
        host = urlsplit(self.url).hostname or ""
        if host in LOCAL_HOSTS:
            lines.append(f"  start it here:    {local_start(self.part)}")
            lines.append(f"  or in containers: {COMPOSE}")
        else:
            lines.append(f"  check that {host} runs {name} and accepts connections from here")
        lines.append(f"  or point {setting} at one that runs")
        return "\n".join(lines)


def redact(url: str) -> str:
    """`url` with its password replaced by `***`."""
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return parts.geturl()


def local_start(part: Part) -> str:
    """The command that starts the part as installed on this machine."""
    if part == "broker":
        if shutil.which("rabbitmq-server"):
            return "rabbitmq-server -detached"
        return "sudo systemctl start rabbitmq-server"
    clusters = (
        sorted(Path("/etc/postgresql").glob("*/main")) if shutil.which("pg_ctlcluster") else []
    )
    if clusters:
        return f"pg_ctlcluster {clusters[-1].parent.name} main start"
    return "sudo systemctl start postgresql"


@asynccontextmanager
async def reaching(part: Part, url: str) -> AsyncIterator[None]:
    """Turn a failure to connect inside the block into `Unreachable(part, ...)`."""
    try:
        yield
    except UNREACHED as exc:
        raise Unreachable(part, redact(url), exc) from exc


async def probe_broker(url: str) -> None:
    """Connect to the broker and leave again; raises `Unreachable("broker", ...)`."""
    async with reaching("broker", url):
        connection = await asyncio.wait_for(aio_pika.connect(url), 15)
        await connection.close()
