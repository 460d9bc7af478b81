"""Each service's memory, run as deployed (`faststream run services.<name>.app:app`, one process
each), at rest and under 20,000 mixed commands.

    python3 -m benchmarks.memory  # last line: {"name": "memory", "ours", "reference", "ratio"}

RSS (VmRSS from /proc) of verification, identity and the notifier: at rest (started, nothing
handled yet), after a warm-up of `WARMUP` commands (pools filled, statements prepared, caches
built), and after `COMMANDS` more. The mix: half `send_code` by email (verification, then the
notifier mails it to an SMTP server in this process), the rest identity's (authenticate,
save_properties with its event, login and register with their argon2 hashes).

`ours` is the largest RSS at rest in MB, `reference` the 100 MB target, `ratio` 100 / ours;
`growth` is the largest rise from after the warm-up to the end (target < 10%).
"""

import asyncio
import json
import os
import random
import sys
import uuid

from aiosmtpd.controller import Controller

from benchmarks.common import AMQP_URL, delete_namespace, fresh_names, temporary_database
from contracts.identity import v1
from contracts.topology import Topology
from contracts.verification import v1 as verification
from gatehouse.rpc import RpcClient
from tests.process_support import free_port, http_get

SERVICES = ("verification", "identity", "notifier")
WARMUP = int(os.environ.get("BENCH_MEMORY_WARMUP", "2000"))
COMMANDS = int(os.environ.get("BENCH_MEMORY_COMMANDS", "20000"))
CONCURRENCY = 16
PASSWORD = "benchmark-password-1"


class Sink:
    """An SMTP server that accepts and forgets every mail."""

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


async def start(name: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "faststream",
        "run",
        f"services.{name}.app:app",
        env={**os.environ, **env, "GATEHOUSE_HTTP_PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            if (await http_get(port, "/readyz"))[0] == 200:
                return proc
        except OSError:
            pass
        await asyncio.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{name} did not become ready")


async def measure() -> None:
    namespace, database_url = fresh_names()
    smtp = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    env = {
        "GATEHOUSE_AMQP_URL": AMQP_URL,
        "GATEHOUSE_DATABASE_URL": database_url,
        "GATEHOUSE_NAMESPACE": namespace,
        "GATEHOUSE_MODE": "prod",
        "GATEHOUSE_CODE_HMAC_KEY": "benchmark-code-hmac-key-0123456789abcdefgh",
        "GATEHOUSE_REPLY_KEY": "benchmark-reply-key-0123456789abcdefghijklm",
        "GATEHOUSE_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
        "GATEHOUSE_NOTIFY_CHANNELS": '["email"]',
        "GATEHOUSE_CODE_HOURLY_CAP": "1000000",
        "GATEHOUSE_LOGIN_MAX_FAILURES": "1000000",
    }
    procs: dict[str, asyncio.subprocess.Process] = {}
    try:
        async with temporary_database(database_url):
            for name in SERVICES:  # one after the other: each applies its own migrations
                procs[name] = await start(name, env)
            await asyncio.sleep(2)  # let start-up garbage settle
            rest = {name: rss_mb(p.pid) for name, p in procs.items()}
            rpc = RpcClient(AMQP_URL, Topology(namespace), timeout_s=60)
            await rpc.connect()
            try:
                mix = await Mix.prepare(rpc)
                await mix.run(WARMUP)
                warm = {name: rss_mb(p.pid) for name, p in procs.items()}
                await mix.run(COMMANDS)
                end = {name: rss_mb(p.pid) for name, p in procs.items()}
            finally:
                await rpc.close()
    finally:
        for proc in procs.values():
            proc.terminate()
            await proc.wait()
        smtp.stop()
    await delete_namespace(namespace)
    for name in SERVICES:
        print(
            f"{name:>12}: at rest {rest[name]:.1f} MB, after {WARMUP} commands {warm[name]:.1f},"
            f" after {COMMANDS} more {end[name]:.1f} ({end[name] / warm[name] - 1:+.1%})",
            flush=True,
        )
    worst = max(rest.values())
    growth = max(end[n] / warm[n] - 1 for n in SERVICES)
    line = {"name": "memory", "ours": round(worst, 1), "reference": 100}
    line |= {"ratio": round(100 / worst, 3), "growth": round(growth, 4)}
    print(json.dumps(line))


class Mix:
    """The mixed commands, on users made beforehand."""

    def __init__(self, rpc: RpcClient, users: list[tuple[str, str]]) -> None:
        self.rpc = rpc
        self.users = users  # (username, session token)
        self.rng = random.Random(7)

    @classmethod
    async def prepare(cls, rpc: RpcClient) -> "Mix":
        users = []
        for i in range(32):
            name = f"bench_mem_{i}"
            body = {"username": name, "password": PASSWORD, "login": True}
            reply = await rpc.call(v1.register, body)
            users.append((name, reply["result"]["session"]["token"]))
        return cls(rpc, users)

    async def one(self) -> None:
        roll = self.rng.random()
        name, token = self.rng.choice(self.users)
        if roll < 0.5:
            body = {"send_to": f"{uuid.uuid4().hex}@example.com", "scenario": "login"}
            reply = await self.rpc.call(verification.send_code, {**body, "channel": "email"})
        elif roll < 0.7:
            reply = await self.rpc.call(v1.authenticate, {"token": token})
        elif roll < 0.85:
            props = {"n": self.rng.randrange(10**6)}
            reply = await self.rpc.call(v1.save_properties, {"token": token, "properties": props})
        elif roll < 0.95:
            reply = await self.rpc.call(v1.login, {"username": name, "password": PASSWORD})
        else:
            body = {"username": f"u_{uuid.uuid4().hex[:16]}", "password": PASSWORD}
            reply = await self.rpc.call(v1.register, body)
        assert reply["ok"], reply

    async def run(self, total: int) -> None:
        left = total

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await self.one()

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


if __name__ == "__main__":
    asyncio.run(measure())
