"""Throwaway namespaces and databases: removing what a test run or a benchmark made.

For a broker and a PostgreSQL this machine runs: a namespace's queues and exchanges are found
by name prefix with rabbitmqctl (one call each, not one per name), so whatever a run declared
goes, the services' own names (`services.ops.namespace`) and anything else under the prefix.
"""

import asyncio
import shutil
import subprocess

import aio_pika
import asyncpg
from aio_pika.abc import AbstractChannel

# Channels a namespace's clean-up deletes on at once.
DELETERS = 8


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


async def delete_prefixed(amqp_url: str, prefix: str) -> None:
    """Delete every queue and exchange whose name starts with `prefix`.

    Lists names with rabbitmqctl where the broker is local (one call each, not one per name);
    a testcontainers broker is thrown away whole.
    """
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return
    # Each listing starts an Erlang VM (~0.5 s): both at once.
    listed = await asyncio.gather(
        asyncio.to_thread(_list, ctl, "queues"), asyncio.to_thread(_list, ctl, "exchanges")
    )
    queues, exchanges = ([n for n in names if n.startswith(prefix)] for names in listed)
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
