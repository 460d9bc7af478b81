"""`gatehouse call <routing key> [body]`: one command, its reply printed, exit 1 on an error."""

import argparse
import asyncio
import json
from typing import Any

from contracts.catalog import COMMANDS
from gatehouse.rpc import RpcClient, amqp_user
from services.cli.reach import reaching
from services.runtime.settings import Mode, Settings


def add(commands: Any) -> None:
    call = commands.add_parser("call", help="send a command and print the reply (exit 1 on error)")
    call.add_argument("routing_key", help="e.g. verification.send_code.v1")
    call.add_argument("body", nargs="?", default="{}", help="JSON request body")
    call.add_argument("--timeout", type=float, default=10.0)
    call.add_argument("--idempotency-key")
    call.set_defaults(run=run, mode=Mode.prod)


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(send(settings, args))


async def send(settings: Settings, args: argparse.Namespace) -> int:
    url = settings.amqp_url.get_secret_value()
    topology = settings.topology
    # A known command goes to its own exchange (internal and workers' ones included); an
    # unknown `admin.*` one to the admin exchange, with the URL's user as its user_id.
    known = {c.routing_key: c for c in COMMANDS}.get(args.routing_key)
    exchange = (
        topology.command_exchange(known) if known else topology.exchange_for(args.routing_key)
    )
    user_id = amqp_user(url) if exchange == topology.admin else None
    rpc = RpcClient(url, topology, timeout_s=args.timeout, exchange=exchange, user_id=user_id)
    async with reaching("broker", url):
        await rpc.connect()
    try:
        reply = await rpc.call_raw(
            args.routing_key, args.body.encode(), idempotency_key=args.idempotency_key
        )
    finally:
        await rpc.close()
    decoded = json.loads(reply)
    print(json.dumps(decoded, indent=2, ensure_ascii=False))
    return 0 if decoded.get("ok") else 1
