"""`gatehouse events [--type PATTERN] [--count N]`: lifecycle events, live, from a
temporary queue, until interrupted or N have arrived."""

import argparse
import asyncio
import json
from typing import Any

import aio_pika
from aio_pika.exceptions import ChannelNotFoundEntity

from services.cli.output import console, err
from services.cli.reach import reaching
from services.runtime.settings import Mode, Settings


def add(commands: Any) -> None:
    events = commands.add_parser("events", help="print lifecycle events as they are published")
    events.add_argument(
        "--type", default="#", help="event type pattern, e.g. 'user.*' or 'user.registered.v1'"
    )
    events.add_argument("--count", type=int, help="exit after this many events")
    # Printing live is what the command does; older scripts still pass --follow.
    events.add_argument("--follow", action="store_true", help=argparse.SUPPRESS)
    events.set_defaults(run=run, mode=Mode.prod)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.follow:
        err.print("--follow is the default and no longer needed")
    return asyncio.run(follow(settings, args.type, args.count))


def topic_pattern(event_type: str) -> str:
    """`user.*` means every user event, whatever its version: AMQP spells that `user.#`."""
    return event_type[:-1] + "#" if event_type.endswith(".*") else event_type


async def follow(settings: Settings, event_type: str, count: int | None) -> int:
    url = settings.amqp_url.get_secret_value()
    async with reaching("broker", url):
        connection = await aio_pika.connect_robust(url)
    async with connection:
        channel = await connection.channel()
        # Passive: an operator's or a caller's RabbitMQ user may follow events without the
        # right to configure Gatehouse's exchanges (docs/operations/broker-users.md).
        try:
            exchange = await channel.declare_exchange(settings.topology.events, passive=True)
        except ChannelNotFoundEntity:
            err.print(
                f"{settings.topology.events} does not exist: no Gatehouse service has run in"
                f" namespace {settings.namespace!r} yet"
            )
            return 1
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
