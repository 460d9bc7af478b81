"""Open-loop mixed load: `python -m reliability.load --namespace NS --out FILE ...`.

Requests leave on a fixed schedule whatever the replies do (an open loop: a slow or broken
system does not slow the load down), through Gatehouse's own `RpcClient`:

- 60% `verification.send_code.v1` to a fresh address on the recording custom channel; a send
  the caller could not settle (timeout, internal_error, unpublished) is sent again to the
  same address, as a caller would, at most twice;
- 20% `identity.register.v1` with a unique username and a password;
- 20% password `identity.login.v1` of a user registered earlier in the run.

Every request and its reply are appended to `--out` (see `reliability.records`). The first
line on stdout is `started <epoch>` once the client is connected; the last is `done`.
"""

import argparse
import asyncio
import contextvars
import json
import os
import random
import secrets
import time
from pathlib import Path
from typing import Any, TextIO

from contracts.topology import Topology
from reliability.gatehouse import CHANNEL
from reliability.records import OK, TIMEOUT, Record
from services.runtime.rpc import RpcClient
from services.runtime.service import run

MIX = (("send_code", 0.6), ("register", 0.2), ("login", 0.2))
ROUTING = {
    "send_code": "verification.send_code.v1",
    "register": "identity.register.v1",
    "login": "identity.login.v1",
}
SEED_USERS = 8
RESENDS = 2
RESEND_AFTER_S = 0.5

_published: contextvars.ContextVar[dict[str, str | None]] = contextvars.ContextVar("published")


class _Capture:
    """Wraps the client's exchange to learn the ids it gives each request, untouched."""

    def __init__(self, exchange: Any) -> None:
        self._exchange = exchange

    async def publish(self, message: Any, *args: Any, **kwargs: Any) -> Any:
        slot = _published.get(None)
        if slot is not None:
            slot["correlation_id"] = message.correlation_id
            slot["message_id"] = message.message_id
        return await self._exchange.publish(message, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._exchange, name)


class Load:
    def __init__(self, rpc: RpcClient, args: argparse.Namespace, out: TextIO) -> None:
        self.rpc = rpc
        self.args = args
        self.prefix: str = args.prefix
        self.password = secrets.token_urlsafe(12)  # in memory only, never written
        self.users: list[str] = []
        self.random = random.Random(args.seed)
        self.seq = 0
        self.out = out
        self.tasks: set[asyncio.Task[None]] = set()

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    async def call(
        self, kind: str, key: str, body: dict[str, Any], resend_of: int | None = None
    ) -> Record:
        record = Record(self._next(), kind, ROUTING[kind], key, time.time(), resend_of=resend_of)
        slot: dict[str, str | None] = {}
        _published.set(slot)
        try:
            reply = json.loads(
                await self.rpc.call_raw(
                    record.routing_key, json.dumps(body).encode(), timeout_s=self.args.timeout
                )
            )
            record.t_reply = time.time()
            if reply.get("ok"):
                record.outcome = OK
                record.result = _effect(kind, reply["result"])
            else:
                record.outcome = reply["error"]["code"]
                if record.outcome == TIMEOUT:
                    record.t_reply = None
        except Exception as exc:  # the request may never have left: the caller cannot know
            record.outcome = f"exception:{type(exc).__name__}"
        record.correlation_id = slot.get("correlation_id")
        record.message_id = slot.get("message_id")
        self.out.write(record.line() + "\n")
        return record

    async def register(self) -> None:
        username = f"{self.prefix}_{self.seq + 1}"
        record = await self.call(
            "register", username, {"username": username, "password": self.password}
        )
        if record.ok:
            self.users.append(username)

    async def login(self) -> None:
        if not self.users:
            return await self.register()
        username = self.random.choice(self.users)
        await self.call("login", username, {"username": username, "password": self.password})

    async def send_code(self) -> None:
        address = f"{self.prefix}-{self.seq + 1}@example.com"
        body = {"send_to": address, "scenario": "login", "channel": CHANNEL}
        record = await self.call("send_code", address, body)
        for _ in range(RESENDS):
            if not record.uncertain:
                return
            await asyncio.sleep(RESEND_AFTER_S)
            record = await self.call("send_code", address, body, resend_of=record.seq)

    def spawn(self, kind: str) -> None:
        task = asyncio.create_task(getattr(self, kind)())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self) -> None:
        await asyncio.gather(*(self.register() for _ in range(SEED_USERS)))
        start = time.time()
        print(f"started {start:.6f}", flush=True)
        kinds = [k for k, _ in MIX]
        weights = [w for _, w in MIX]
        total = int(self.args.rate * self.args.seconds)
        for i in range(total):
            delay = start + i / self.args.rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.spawn(self.random.choices(kinds, weights)[0])
        while self.tasks:
            await asyncio.gather(*list(self.tasks))


def _effect(kind: str, result: dict[str, Any]) -> dict[str, Any]:
    """The fields of a reply that name its effect; tokens are left out."""
    if kind == "send_code":
        return {"expires_at": result["expires_at"]}
    user = (result.get("user") or {}).get("id")
    if kind == "login":
        return {"user_id": user, "expires_at": (result.get("session") or {}).get("expires_at")}
    return {"user_id": user}


async def main(args: argparse.Namespace, out: TextIO) -> None:
    rpc = RpcClient(os.environ["GATEHOUSE_AMQP_URL"], Topology(args.namespace))
    await rpc.connect()
    if hasattr(rpc, "_exchange"):
        rpc._exchange = _Capture(rpc._exchange)
    try:
        await Load(rpc, args, out).run()
    finally:
        await rpc.close()
    print("done", flush=True)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m reliability.load")
    p.add_argument("--namespace", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--prefix", required=True, help="lower-case; names every user and address")
    p.add_argument("--rate", type=float, default=70.0, help="requests per second")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--timeout", type=float, default=10.0, help="RPC timeout per request")
    p.add_argument("--seed", type=int, default=12)
    return p.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    with Path(arguments.out).open("a", buffering=1) as records:
        run(main(arguments, records))
