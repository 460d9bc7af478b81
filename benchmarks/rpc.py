"""RPC round trips/s: our RpcClient calling an echo command served through our runtime,
against raw aio-pika (multiplexed direct reply-to client, plain consumer) in the same run.

    python3 -m benchmarks.rpc            # last line: {"name": "rpc", "ours", "reference", "ratio"}

Servers run in a subprocess, clients here, like two services would. The ratio is the lower
of concurrency 1 and 32; each figure is the best of a few alternating rounds.
"""

import argparse
import asyncio
import uuid
from pathlib import Path

import aio_pika

from benchmarks.common import (
    AMQP_URL,
    delete_namespace,
    fresh_names,
    report,
    server,
    serving,
    temporary_database,
    throughput,
)
from contracts.envelope import Contract
from contracts.topology import REPLY_TO, Command, Topology
from gatehouse._loop import run as run_service
from gatehouse.rpc import RpcClient
from services.runtime.work import UnitOfWork

MODULE = "benchmarks.rpc"
ROUNDS = 5
CALLS = {1: 1000, 32: 6000}
BODY = b'{"payload": "' + b"x" * 64 + b'"}'


class Echo(Contract):
    payload: str


# An echo changes nothing: read-only, so its reply is not recorded per message id (what
# recording costs a state-changing command is benchmarks/answered_once.py's figure).
ECHO = Command("bench", "echo", 1, Echo, Echo, "Echo the payload back.", read_only=True)


# servers ----------------------------------------------------------------------------------


async def serve_ours(namespace: str, database_url: str) -> None:
    from services.ops.system import SystemSettings
    from services.runtime.service import Service

    settings = SystemSettings(
        amqp_url=AMQP_URL, database_url=database_url, namespace=namespace, mode="dev"
    )
    service = Service("bench", settings, Path(__file__).parent / "no_migrations")

    async def echo(uow: UnitOfWork, request: Echo) -> Echo:
        return request

    service.command(ECHO, echo)
    await service.start()
    await serving()


async def serve_raw(namespace: str) -> None:
    connection = await aio_pika.connect_robust(AMQP_URL)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=64)
    exchange = await channel.declare_exchange(
        f"{namespace}.raw", aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(
        f"{namespace}.raw.echo", durable=True, arguments={"x-queue-type": "quorum"}
    )
    await queue.bind(exchange, ECHO.routing_key)

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        await channel.default_exchange.publish(
            aio_pika.Message(message.body, correlation_id=message.correlation_id),
            routing_key=message.reply_to,  # type: ignore[arg-type]  # every request has one
        )
        await message.ack()

    await queue.consume(on_message)
    await serving()


# clients ----------------------------------------------------------------------------------


class RawClient:
    """The reference: what a careful aio-pika user writes for multiplexed RPC."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.futures: dict[str, asyncio.Future[bytes]] = {}

    async def connect(self) -> None:
        self.connection = await aio_pika.connect_robust(AMQP_URL)
        channel = await self.connection.channel()
        replies = await channel.get_queue(REPLY_TO, ensure=False)
        await replies.consume(self.on_reply, no_ack=True)
        self.exchange = await channel.get_exchange(f"{self.namespace}.raw", ensure=False)

    async def on_reply(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        future = self.futures.pop(message.correlation_id or "", None)
        if future is not None:
            future.set_result(message.body)

    async def call(self) -> bytes:
        correlation_id = uuid.uuid4().hex
        future = asyncio.get_running_loop().create_future()
        self.futures[correlation_id] = future
        await self.exchange.publish(
            aio_pika.Message(BODY, correlation_id=correlation_id, reply_to=REPLY_TO),
            routing_key=ECHO.routing_key,
        )
        return await future


async def measure() -> None:
    namespace, database_url = fresh_names()
    async with temporary_database(database_url):
        with (
            server(MODULE, "--serve", "raw", "--namespace", namespace),
            server(MODULE, "--serve", "ours", "--namespace", namespace, "--db", database_url),
        ):
            raw = RawClient(namespace)
            await raw.connect()
            ours = RpcClient(AMQP_URL, Topology(namespace))
            await ours.connect()

            async def ours_call() -> bytes:
                reply = await ours.call_raw(ECHO.routing_key, BODY)
                assert reply.startswith(b'{"ok":true'), reply
                return reply

            results: dict[int, tuple[float, float]] = {}
            for concurrency, total in CALLS.items():
                await throughput(raw.call, concurrency, 200)  # warm-up
                await throughput(ours_call, concurrency, 200)
                best_raw = best_ours = 0.0
                for _ in range(ROUNDS):
                    best_raw = max(best_raw, await throughput(raw.call, concurrency, total))
                    best_ours = max(best_ours, await throughput(ours_call, concurrency, total))
                results[concurrency] = (best_ours, best_raw)
                print(
                    f"concurrency {concurrency:>2}: ours {best_ours:8.1f} req/s, "
                    f"raw aio-pika {best_raw:8.1f} req/s, ratio {best_ours / best_raw:.3f}",
                    flush=True,
                )
            await ours.close()
            await raw.connection.close()
    await delete_namespace(namespace)
    worst = min(results, key=lambda c: results[c][0] / results[c][1])
    report("rpc", *results[worst], concurrency=worst)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", choices=["ours", "raw"])
    parser.add_argument("--namespace")
    parser.add_argument("--db")
    args = parser.parse_args()
    # Both servers on one loop, uvloop, as `faststream run` and `gatehouse up` deploy ours:
    # a reference on asyncio's own loop would be measured with a handicap ours does not carry.
    if args.serve == "ours":
        run_service(serve_ours(args.namespace, args.db))
    elif args.serve == "raw":
        run_service(serve_raw(args.namespace))
    else:
        asyncio.run(measure())


if __name__ == "__main__":
    main()
