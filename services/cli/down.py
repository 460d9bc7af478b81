"""`gatehouse down [--purge] [--yes] [--channel NAME]`: what this namespace holds on the
broker, and, with --purge, deleting it (see services.ops.namespace)."""

import argparse
import asyncio
from typing import Any
from urllib.parse import urlsplit

from services.cli.output import console, err
from services.cli.reach import reaching
from services.ops import namespace
from services.ops.system import SystemSettings
from services.runtime.settings import Mode


def add(commands: Any) -> None:
    down = commands.add_parser(
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
    down.set_defaults(run=run, mode=Mode.prod)


def run(args: argparse.Namespace, settings: SystemSettings) -> int:
    return down(settings, purge=args.purge, yes=args.yes, channels=tuple(args.channel))


async def _find(url: str, names: namespace.Footprint) -> namespace.Found:
    async with reaching("broker", url):
        return await namespace.find(url, names)


def down(settings: SystemSettings, *, purge: bool, yes: bool, channels: tuple[str, ...]) -> int:
    url = settings.amqp_url.get_secret_value()
    names = namespace.footprint(namespace.everything(settings), channels)
    found = asyncio.run(_find(url, names))
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
