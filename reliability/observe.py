"""What the harness reads off the broker and the database while a scenario runs: queue
depths, effect counts, where quorum queues live; and the clean-up of a namespace's queues."""

import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any

import aio_pika
import asyncpg

from reliability.rabbit import RabbitNode


async def queue_depths(url: str, queues: list[str]) -> tuple[int, ...]:
    """Ready messages per queue (a queue that does not exist counts 0)."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        depths = []
        for name in queues:
            try:
                declared = await channel.declare_queue(name, passive=True)
                depths.append(declared.declaration_result.message_count or 0)
            except aio_pika.exceptions.ChannelClosed:
                channel = await connection.channel()
                depths.append(0)
        return tuple(depths)


async def backed_up(
    url: str, queues: list[str], timeout_s: float, trigger: Callable[[], None]
) -> bool:
    """`trigger()`, then until one of `queues` holds a ready message (polled on a channel
    opened beforehand, so that a short backlog is not missed), or `timeout_s`."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        trigger()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for name in queues:
                declared = await channel.declare_queue(name, passive=True)
                if declared.declaration_result.message_count:
                    return True
            await asyncio.sleep(0.005)
    return False


async def consuming(url: str, queues: list[str], consumers: int, timeout_s: float = 60.0) -> None:
    """Until each queue exists with at least `consumers` consumers. A service's `/readyz`
    answers 200 before its subscribers have declared and bound their queues (the health
    server starts first), and a command published in that gap comes back unroutable."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        deadline = time.monotonic() + timeout_s
        pending = list(queues)
        while pending and time.monotonic() < deadline:
            try:
                declared = await channel.declare_queue(pending[0], passive=True)
                if (declared.declaration_result.consumer_count or 0) >= consumers:
                    pending.pop(0)
                    continue
            except aio_pika.exceptions.ChannelClosed:  # not declared yet
                channel = await connection.channel()
            await asyncio.sleep(0.05)


async def effect_counts(database_url: str) -> tuple[int, ...]:
    """Unpublished events, users, sessions and codes: still moving while any changes."""
    con = await asyncpg.connect(database_url)
    try:
        row = await con.fetchrow(
            "SELECT (SELECT count(*) FROM identity.outbox WHERE published_at IS NULL),"
            " (SELECT count(*) FROM identity.users), (SELECT count(*) FROM identity.sessions),"
            " (SELECT count(*) FROM verification.codes)"
        )
    finally:
        await con.close()
    assert row is not None
    return tuple(int(value) for value in row)


async def placement(node: RabbitNode, namespace: str, size: int) -> dict[str, Any]:
    """Where a namespace's quorum queues live: proof that they are replicated."""
    listed = await node.actl(
        "list_queues", "name", "type", "leader", "members", "--quiet", "--no-table-headers"
    )
    queues = replicated = 0
    leaders: dict[str, int] = {}
    for line in listed.splitlines():
        parts = line.split("\t")
        if len(parts) < 4 or not parts[0].startswith(namespace) or parts[1] != "quorum":
            continue
        queues += 1
        replicated += parts[3].count("@") == size
        name = parts[2].split("@")[0][-2:]
        leaders[name] = leaders.get(name, 0) + 1
    return {"quorum queues": queues, f"on all {size} nodes": replicated, "leaders": leaders}


async def delete_queues(node: RabbitNode, namespace: str) -> None:
    """Every queue of a namespace: quorum queues cost a node even when idle."""
    if node.proc is None:
        return
    try:
        listed = await node.actl("list_queues", "name", "--quiet", "--no-table-headers")
        connection = await aio_pika.connect(node.url)
        async with connection:
            channel = await connection.channel()
            for name in listed.split():
                if name.startswith(f"{namespace}."):
                    await channel.queue_delete(name)
    except Exception as exc:  # the node goes away with the lab anyway
        print(f"# could not delete {namespace} queues: {exc!r}", file=sys.stderr)
