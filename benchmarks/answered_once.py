"""What answering once costs: verification.send_code.v1 round trips/s at concurrency 32 with a
message id (its reply looked up, then recorded in the transaction of its code) against the
same command without one (not recorded), in the same run, through the same kind of client.

    python3 -m benchmarks.answered_once  # last line: {"name": "answered_once", "ours", ...}

`ours` is with recorded replies, `reference` without; the ratio is what a caller keeps of the
unrecorded throughput, and the line before it gives the difference per command in ms.
"""

import argparse
import asyncio
import json
import os
import uuid

import aio_pika

from benchmarks.common import (
    AMQP_URL,
    delete_namespace,
    fresh_names,
    report,
    server,
    temporary_database,
    throughput,
)
from benchmarks.send_code import MODULE as SEND_CODE_MODULE
from benchmarks.send_code import bind_sink
from contracts.topology import REPLY_TO, Topology
from contracts.verification import v1

CONCURRENCY = 32
CALLS = int(os.environ.get("BENCH_CALLS", "3000"))
ROUNDS = 3


class Client:
    """Multiplexed RPC over direct reply-to, with or without a message id on each request."""

    def __init__(self, namespace: str, *, message_ids: bool) -> None:
        self.namespace = namespace
        self.message_ids = message_ids
        self.futures: dict[str, asyncio.Future[bytes]] = {}

    async def connect(self) -> None:
        self.connection = await aio_pika.connect_robust(AMQP_URL)
        channel = await self.connection.channel()
        replies = await channel.get_queue(REPLY_TO, ensure=False)
        await replies.consume(self.on_reply, no_ack=True)
        self.exchange = await channel.get_exchange(Topology(self.namespace).commands, ensure=False)

    async def on_reply(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        future = self.futures.pop(message.correlation_id or "", None)
        if future is not None:
            future.set_result(message.body)

    async def send_code(self) -> None:
        body = {
            "send_to": f"{uuid.uuid4().hex}@example.com",
            "scenario": "login",
            "channel": "sink",
        }
        correlation_id = uuid.uuid4().hex
        future = asyncio.get_running_loop().create_future()
        self.futures[correlation_id] = future
        await self.exchange.publish(
            aio_pika.Message(
                json.dumps(body).encode(),
                correlation_id=correlation_id,
                reply_to=REPLY_TO,
                message_id=uuid.uuid4().hex if self.message_ids else None,
            ),
            routing_key=v1.send_code.routing_key,
        )
        reply = await future
        assert reply.startswith(b'{"ok":true'), reply


async def measure() -> None:
    namespace, database_url = fresh_names()
    await bind_sink(namespace)
    async with temporary_database(database_url):
        with server(SEND_CODE_MODULE, "--serve", "--namespace", namespace, "--db", database_url):
            recorded = Client(namespace, message_ids=True)
            unrecorded = Client(namespace, message_ids=False)
            for client in (recorded, unrecorded):
                await client.connect()
                await throughput(client.send_code, CONCURRENCY, 200)
            best_ours = best_ref = 0.0
            for _ in range(ROUNDS):
                best_ref = max(best_ref, await throughput(unrecorded.send_code, CONCURRENCY, CALLS))
                best_ours = max(best_ours, await throughput(recorded.send_code, CONCURRENCY, CALLS))
            extra_ms = (1 / best_ours - 1 / best_ref) * 1000
            print(
                f"concurrency {CONCURRENCY}: recorded {best_ours:.1f}/s, unrecorded"
                f" {best_ref:.1f}/s; {extra_ms:.3f} ms more per command (wall, whole machine)",
                flush=True,
            )
            for client in (recorded, unrecorded):
                await client.connection.close()
    await delete_namespace(namespace)
    report("answered_once", best_ours, best_ref, concurrency=CONCURRENCY)


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    asyncio.run(measure())


if __name__ == "__main__":
    main()
