"""`gatehouse dlq list [queue]` and `gatehouse dlq replay <queue>`: dead-lettered messages."""

import argparse
import asyncio
from collections.abc import Mapping
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from aio_pika.exceptions import ChannelNotFoundEntity
from rich.table import Table

from services.cli.output import console
from services.cli.reach import reaching
from services.ops import namespace
from services.ops.system import SystemSettings
from services.runtime.settings import Mode


def add(commands: Any) -> None:
    dlq = commands.add_parser("dlq", help="dead-letter queues")
    actions = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = actions.add_parser("list", help="DLQ sizes, or the messages of one queue")
    listing.add_argument("queue", nargs="?", help="work queue or its .dlq")
    listing.set_defaults(run=run_list, mode=Mode.prod)
    replay = actions.add_parser("replay", help="re-publish a DLQ's messages to their queue")
    replay.add_argument("queue", help="work queue or its .dlq")
    replay.set_defaults(run=run_replay, mode=Mode.prod)


def run_list(args: argparse.Namespace, settings: SystemSettings) -> int:
    return asyncio.run(dlq_list(settings, args.queue))


def run_replay(args: argparse.Namespace, settings: SystemSettings) -> int:
    return asyncio.run(dlq_replay(settings, args.queue))


def names(settings: SystemSettings, queue: str) -> tuple[str, str]:
    """(work queue, dead-letter queue) from either name."""
    if queue.endswith(".dlq"):
        return queue[: -len(".dlq")], queue
    return queue, settings.topology.dead_letter_queue(queue)


async def _connect(settings: SystemSettings) -> aio_pika.abc.AbstractConnection:
    url = settings.amqp_url.get_secret_value()
    async with reaching("broker", url):
        return await aio_pika.connect(url)


async def _peek(channel: AbstractChannel, name: str) -> list[AbstractIncomingMessage]:
    queue = await channel.get_queue(name, ensure=True)
    messages = []
    while (message := await queue.get(no_ack=False, fail=False)) is not None:
        messages.append(message)
    return messages


def _first_death(headers: Mapping[str, Any]) -> Mapping[str, Any]:
    """The newest `x-death` entry RabbitMQ added, or nothing."""
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], Mapping):
        return deaths[0]
    return {}


async def dlq_list(settings: SystemSettings, queue: str | None) -> int:
    connection = await _connect(settings)
    async with connection:
        if queue is None:
            table = Table("dead-letter queue", "messages")
            everything = namespace.everything(settings)
            for name in namespace.footprint(everything).dead_letter_queues:
                channel = await connection.channel()
                try:
                    declared = await channel.declare_queue(name, passive=True)
                    table.add_row(name, str(declared.declaration_result.message_count))
                except ChannelNotFoundEntity:
                    table.add_row(name, "(not declared yet)")
            console.print(table)
            return 0
        _, dlq = names(settings, queue)
        channel = await connection.channel()
        # Peeked messages are never acked: closing the channel puts them all back.
        messages = await _peek(channel, dlq)
        table = Table("message id", "routing key", "reason", "deaths", "size")
        for message in messages:
            death = _first_death(message.headers)
            table.add_row(
                str(message.message_id),
                str(death.get("routing-keys", [message.routing_key])),
                str(death.get("reason", message.headers.get("x-first-death-reason", ""))),
                str(death.get("count", "")),
                f"{len(message.body)} B",
            )
        console.print(table)
        await channel.close()
    return 0


async def dlq_replay(settings: SystemSettings, queue: str) -> int:
    work, dlq = names(settings, queue)
    connection = await _connect(settings)
    replayed = 0
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        dead = await channel.get_queue(dlq, ensure=True)
        while (message := await dead.get(no_ack=False, fail=False)) is not None:
            headers = {k: v for k, v in message.headers.items() if not k.startswith("x-")}
            await channel.default_exchange.publish(
                aio_pika.Message(
                    message.body,
                    headers=headers,
                    content_type=message.content_type,
                    correlation_id=message.correlation_id,
                    message_id=message.message_id,
                    reply_to=message.reply_to,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=work,
            )
            await message.ack()  # only after the broker confirmed the copy
            replayed += 1
    console.print(f"replayed {replayed} message(s) from {dlq} to {work}")
    return 0
