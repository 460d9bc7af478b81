"""Where the tests find RabbitMQ and PostgreSQL, and how a run cleans up after itself.

Order: the `GATEHOUSE_AMQP_URL` / `GATEHOUSE_DATABASE_URL` settings if given; else the
services on localhost if they answer (the project machines and CI); else, with Docker,
throwaway containers through testcontainers.
"""

import asyncio
import os
import shutil
import socket
import subprocess
import uuid
from contextlib import ExitStack
from urllib.parse import urlsplit

import aio_pika
import asyncpg
from aio_pika.abc import AbstractChannel

# Names this run's database and namespaces, so that runs sharing a machine never collide.
RUN_ID = uuid.uuid4().hex[:8]
LOCAL_AMQP = "amqp://guest:guest@localhost:5672/"
LOCAL_POSTGRES = "postgresql://postgres@localhost:5432/postgres"
# Channels a namespace's clean-up deletes on at once.
DELETERS = 8


def _answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "localhost", parts.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def locate(stack: ExitStack) -> tuple[str, str]:
    """(amqp_url, admin postgres url) for this test run."""
    amqp = os.environ.get("GATEHOUSE_AMQP_URL")
    postgres = os.environ.get("GATEHOUSE_TEST_ADMIN_DATABASE_URL")
    if amqp is None:
        if _answers(LOCAL_AMQP, 5672):
            amqp = LOCAL_AMQP
        else:
            from testcontainers.rabbitmq import RabbitMqContainer

            rabbit = stack.enter_context(RabbitMqContainer("rabbitmq:4-management"))
            params = rabbit.get_connection_params()
            amqp = f"amqp://guest:guest@{params.host}:{params.port}/"
    if postgres is None:
        if _answers(LOCAL_POSTGRES, 5432):
            postgres = LOCAL_POSTGRES
        else:
            from testcontainers.postgres import PostgresContainer

            pg = stack.enter_context(PostgresContainer("postgres:16", driver=None))
            postgres = pg.get_connection_url()
    return amqp, postgres


def database_url(admin_url: str, name: str) -> str:
    return urlsplit(admin_url)._replace(path=f"/{name}").geturl()


async def drop_database(admin_url: str, name: str) -> None:
    con = await asyncpg.connect(admin_url)
    try:
        await con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await con.close()


def _list(ctl: str, kind: str) -> list[str]:
    listed = subprocess.run(
        [ctl, f"list_{kind}", "name", "--quiet", "--no-table-headers"],
        capture_output=True,
        text=True,
        check=False,
    )
    return listed.stdout.split()


async def delete_namespace(amqp_url: str, prefix: str) -> None:
    """Delete every queue and exchange whose name starts with `prefix`.

    Lists names with rabbitmqctl where the broker is local (one call each, not one per name);
    a testcontainers broker is thrown away whole.
    """
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return
    queues = [n for n in _list(ctl, "queues") if n.startswith(prefix)]
    exchanges = [n for n in _list(ctl, "exchanges") if n.startswith(prefix)]
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        # A run leaves thousands of queues: deleted on a few channels at once, not one by one.
        channels = [await connection.channel() for _ in range(DELETERS)]

        async def delete(channel: AbstractChannel, share: int) -> None:
            for name in queues[share::DELETERS]:
                await channel.queue_delete(name)
            for name in exchanges[share::DELETERS]:
                await channel.exchange_delete(name)

        await asyncio.gather(*(delete(c, i) for i, c in enumerate(channels)))
