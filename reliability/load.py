"""Open-loop mixed load: `python -m reliability.load --namespace NS --out FILE ...`.

Requests leave on a fixed schedule whatever the replies do (an open loop: a slow or broken
system does not slow the load down), through Gatehouse's own `RpcClient`:

- 60% `verification.send_code.v1` to a fresh address on the recording custom channel; a send
  the caller could not settle (timeout, internal_error, unpublished) is sent again to the
  same address, as a caller would, with backoff (0.5 s doubling to 4 s), up to 5 times;
- 20% `identity.register.v1` with a unique username and a password;
- 20% password `identity.login.v1` of a user registered earlier in the run;
- and, beside that mix, one `identity.login.v1` a second with a wrong code for an address
  that has none: identity must ask verification (its own RPC client) and answer
  `code_invalid`, which shows whether identity's calls to verification recovered too.

Every request and its reply are appended to `--out` (see `reliability.records`). The first
line on stdout is `started <epoch>` once the client is connected; the last is `done`. The load
sends for `--seconds`, or until SIGTERM, then waits for the replies still due. SIGUSR1 sends a
burst of `--burst` requests of the same mix at once: a scenario fires one just before its
fault, because work in flight is what a fault endangers.
"""

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import signal
import time
from pathlib import Path
from typing import Any, TextIO

from contracts.topology import Topology
from gatehouse._loop import run
from reliability.client import Caller
from reliability.gatehouse import CHANNEL
from reliability.records import OK, TIMEOUT, Record

MIX = (("send_code", 0.6), ("register", 0.2), ("login", 0.2))
ROUTING = {
    "send_code": "verification.send_code.v1",
    "register": "identity.register.v1",
    "login": "identity.login.v1",
    "code_login": "identity.login.v1",
}
PROBE_EXPECTS = "code_invalid"
PROBE_EVERY_S = 1.0
SEED_USERS = 8
RESENDS = 5
RESEND_AFTER_S = (0.5, 1.0, 2.0, 4.0, 4.0)


class Load:
    def __init__(self, caller: Caller, args: argparse.Namespace, out: TextIO) -> None:
        self.caller = caller
        self.args = args
        self.prefix: str = args.prefix
        self.password = secrets.token_urlsafe(12)  # in memory only, never written
        self.users: list[str] = []
        self.random = random.Random(args.seed)
        self.seq = 0
        self.out = out
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopping = asyncio.Event()

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    async def call(
        self, kind: str, key: str, body: dict[str, Any], resend_of: int | None = None
    ) -> Record:
        record = Record(self._next(), kind, ROUTING[kind], key, time.time(), resend_of=resend_of)
        if kind == "code_login":
            record.expect = PROBE_EXPECTS
        ids: dict[str, str | None] = {}
        try:
            raw, ids = await self.caller.call(record.routing_key, json.dumps(body).encode())
            reply = json.loads(raw)
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
        record.correlation_id = ids.get("correlation_id")
        record.message_id = ids.get("message_id")
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
        for pause in RESEND_AFTER_S[:RESENDS]:
            if not record.uncertain:
                return
            await asyncio.sleep(pause)
            record = await self.call("send_code", address, body, resend_of=record.seq)

    async def code_login(self) -> None:
        address = f"probe-{self.seq + 1}@example.com"
        await self.call("code_login", address, {"email": address, "code": "000000"})

    async def probe(self) -> None:
        while not self.stopping.is_set():
            self.spawn("code_login")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), PROBE_EVERY_S)

    def pick(self) -> str:
        return self.random.choices([k for k, _ in MIX], [w for _, w in MIX])[0]

    def burst(self) -> None:
        for _ in range(self.args.burst):
            self.spawn(self.pick())

    def spawn(self, kind: str) -> None:
        task = asyncio.create_task(getattr(self, kind)())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self) -> None:
        await asyncio.gather(*(self.register() for _ in range(SEED_USERS)))
        start = time.time()
        print(f"started {start:.6f}", flush=True)
        total = int(self.args.rate * self.args.seconds)
        prober = asyncio.create_task(self.probe())
        for i in range(total):
            delay = start + i / self.args.rate - time.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)
            if self.stopping.is_set():
                break
            self.spawn(self.pick())
        self.stopping.set()
        await prober
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
    caller = Caller(os.environ["GATEHOUSE_AMQP_URL"], Topology(args.namespace), args.timeout)
    await caller.connect()
    load = Load(caller, args, out)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, load.stopping.set)
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, load.burst)
    try:
        await load.run()
    finally:
        await caller.close()
    print("done " + json.dumps({"client_rebuilds": caller.rebuilds}), flush=True)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m reliability.load")
    p.add_argument("--namespace", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--prefix", required=True, help="lower-case; names every user and address")
    p.add_argument("--rate", type=float, default=40.0, help="requests per second")
    p.add_argument("--seconds", type=float, default=30.0, help="at most; SIGTERM ends sooner")
    p.add_argument("--timeout", type=float, default=10.0, help="RPC timeout per request")
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--burst", type=int, default=200, help="requests sent at once on SIGUSR1")
    return p.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    with Path(arguments.out).open("a", buffering=1) as records:
        run(main(arguments, records))
