"""Operator commands: follow lifecycle events, inspect and replay dead-lettered messages,
and remove a namespace from the broker."""

import argparse
import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import aio_pika
from aio_pika.abc import AbstractChannel
from aio_pika.exceptions import ChannelNotFoundEntity
from rich.console import Console
from rich.table import Table

from services import namespace
from services.runtime.settings import Settings

console = Console()
err = Console(stderr=True)


def add_commands(sub: Any) -> None:
    events = sub.add_parser("events", help="print lifecycle events as they are published")
    events.add_argument("--follow", action="store_true", help="keep printing (the default)")
    events.add_argument(
        "--type", default="#", help="event type pattern, e.g. 'user.*' or 'user.registered.v1'"
    )
    events.add_argument("--count", type=int, help="exit after this many events")
    dlq = sub.add_parser("dlq", help="dead-letter queues")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = dlq_sub.add_parser("list", help="DLQ sizes, or the messages of one queue")
    listing.add_argument("queue", nargs="?", help="work queue or its .dlq")
    replay = dlq_sub.add_parser("replay", help="re-publish a DLQ's messages to their queue")
    replay.add_argument("queue", help="work queue or its .dlq")
    down = sub.add_parser(
        "down",
        help="show what this namespace holds on the broker; --purge deletes it",
        description="Lists the queues and exchanges this namespace (GATEHOUSE_NAMESPACE) "
        "declares that exist on the broker. With --purge, deletes them after a confirmation; "
        "stop Gatehouse and any custom channel workers first.",
    )
    down.add_argument("--purge", action="store_true", help="delete the queues and exchanges")
    down.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    down.add_argument(
        "--channel",
        action="append",
        default=[],
        metavar="NAME",
        help="also a custom delivery channel's queues (repeatable)",
    )


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "events":
        return asyncio.run(follow_events(settings, args.type, args.count))
    if args.command == "down":
        return down(settings, purge=args.purge, yes=args.yes, channels=tuple(args.channel))
    if args.dlq_command == "list":
        return asyncio.run(dlq_list(settings, args.queue))
    return asyncio.run(dlq_replay(settings, args.queue))


def topic_pattern(event_type: str) -> str:
    """`user.*` means every user event, whatever its version: AMQP spells that `user.#`."""
    return event_type[:-1] + "#" if event_type.endswith(".*") else event_type


async def follow_events(settings: Settings, event_type: str, count: int | None) -> int:
    connection = await aio_pika.connect_robust(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            settings.topology.events, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key=topic_pattern(event_type))
        err.print(f"following {event_type} on {settings.topology.events} (Ctrl-C to stop)")
        seen = 0
        async with queue.iterator() as messages:
            async for message in messages:
                async with message.process():
                    event = json.loads(message.body)
                    console.print(
                        f"{event.get('time', '')} [bold]{event.get('type', message.routing_key)}"
                        f"[/bold] subject={event.get('subject')} "
                        f"{json.dumps(event.get('data'), ensure_ascii=False)}",
                        highlight=False,
                        soft_wrap=True,
                    )
                seen += 1
                if count is not None and seen >= count:
                    break
    return 0


def _dlq_name(settings: Settings, queue: str) -> tuple[str, str]:
    """(work queue, dead-letter queue) from either name."""
    if queue.endswith(".dlq"):
        return queue[: -len(".dlq")], queue
    return queue, settings.topology.dead_letter_queue(queue)


def _known_dead_letter_queues(settings: Settings) -> tuple[str, ...]:
    return namespace.footprint(namespace.everything(settings)).dead_letter_queues


async def _peek(channel: AbstractChannel, name: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    queue = await channel.get_queue(name, ensure=True)
    messages = []
    while (message := await queue.get(no_ack=False, fail=False)) is not None:
        messages.append(message)
    return messages


async def dlq_list(settings: Settings, queue: str | None) -> int:
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        if queue is None:
            table = Table("dead-letter queue", "messages")
            for name in _known_dead_letter_queues(settings):
                channel = await connection.channel()
                try:
                    declared = await channel.declare_queue(name, passive=True)
                    table.add_row(name, str(declared.declaration_result.message_count))
                except ChannelNotFoundEntity:
                    table.add_row(name, "(not declared yet)")
            console.print(table)
            return 0
        _, dlq = _dlq_name(settings, queue)
        channel = await connection.channel()
        # Peeked messages are never acked: closing the channel puts them all back.
        messages = await _peek(channel, dlq)
        table = Table("message id", "routing key", "reason", "deaths", "size")
        for message in messages:
            death = (message.headers.get("x-death") or [{}])[0]
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


async def dlq_replay(settings: Settings, queue: str) -> int:
    work, dlq = _dlq_name(settings, queue)
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
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


def down(settings: Settings, *, purge: bool, yes: bool, channels: tuple[str, ...]) -> int:
    url = settings.amqp_url.get_secret_value()
    names = namespace.footprint(namespace.everything(settings), channels)
    found = asyncio.run(namespace.find(url, names))
    parts = urlsplit(url)
    where = f"namespace {settings.namespace!r} on {parts.hostname}:{parts.port or 5672}"
    if not found.queues and not found.exchanges:
        console.print(f"nothing of {where} is on the broker", soft_wrap=True)
        return 0
    console.print(
        f"{where}: {len(found.queues)} queue(s) holding {found.messages} message(s),"
        f" {len(found.exchanges)} exchange(s), and any retry delay queues of the notifier",
        soft_wrap=True,
    )
    if not purge:
        console.print("`gatehouse down --purge` deletes them (stop Gatehouse first)")
        return 0
    if found.in_use:
        err.print(
            f"{len(found.in_use)} queue(s) still have consumers ({found.in_use[0].name}, ...):"
            " stop Gatehouse and custom channel workers first; nothing deleted",
            soft_wrap=True,
        )
        return 1
    if not yes and not _confirmed(settings.namespace):
        err.print("nothing deleted")
        return 1
    retries = asyncio.run(namespace.purge(url, found))
    console.print(
        f"deleted {len(found.queues)} queue(s) and {len(found.exchanges)} exchange(s),"
        f" and the notifier's retry delay queues (waiting retries dropped: {retries})",
        soft_wrap=True,
    )
    return 0


def _confirmed(name: str) -> bool:
    # Typing the name, not `y`: the namespace comes from the environment, and the wrong
    # GATEHOUSE_NAMESPACE would otherwise delete another installation's messages.
    try:
        answer = input(f"This deletes their messages for good. Type the namespace ({name}): ")
    except EOFError:
        return False
    return answer.strip() == name
