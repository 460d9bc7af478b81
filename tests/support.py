"""Helpers that keep tests independent: fresh recipients and an inbox channel."""

import asyncio
import inspect
import json
import random
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import phonenumbers

from contracts.topology import Command
from contracts.verification.v1 import Delivery
from gatehouse.channels import ChannelWorker, CustomChannel, Kind
from gatehouse.rpc import RpcClient
from services.runtime.service import Service
from services.runtime.settings import Settings


async def eventually(check: Any, timeout_s: float = 10.0, interval_s: float = 0.02) -> Any:
    """Poll `check()` (plain or async) until it returns something truthy; returns the value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval_s)


@asynccontextmanager
async def running(*services: Service) -> AsyncIterator[None]:
    """Start the services in order, stop them in reverse order."""
    for service in services:
        await service.start()
    try:
        yield
    finally:
        for service in reversed(services):
            await service.stop()


def random_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


def random_phone() -> str:
    """A valid UK mobile number, different on every call (not every 07xxx range is valid)."""
    while True:
        candidate = f"+447{random.randint(100000000, 999999999)}"
        if phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
            return candidate


def random_username() -> str:
    return f"user_{uuid.uuid4().hex[:12]}"


class Inbox:
    """Collects deliveries by recipient, as a user's phone or mailbox would."""

    def __init__(self) -> None:
        self._by_recipient: dict[str, asyncio.Queue[Delivery]] = defaultdict(asyncio.Queue)
        self.received: list[Delivery] = []

    async def deliver(self, delivery: Delivery) -> None:
        self.received.append(delivery)
        await self._by_recipient[delivery.send_to].put(delivery)

    async def next(self, send_to: str, wait_s: float = 5.0) -> Delivery:
        return await asyncio.wait_for(self._by_recipient[send_to].get(), wait_s)

    async def code(self, send_to: str, wait_s: float = 5.0) -> str:
        return (await self.next(send_to, wait_s)).code


@asynccontextmanager
async def inbox_channels(
    settings: Settings, *names: tuple[str, Kind | None]
) -> AsyncIterator[Inbox]:
    """Run custom channels (name, kind) that drop every delivery into one Inbox."""
    inbox = Inbox()
    worker = ChannelWorker(
        [CustomChannel(name, kind, inbox.deliver) for name, kind in names],
        settings,
    )
    await worker.start()
    try:
        yield inbox
    finally:
        await worker.stop()


async def call(rpc: RpcClient, command: Command | str, body: Any, **kw: Any) -> dict[str, Any]:
    """Send a command (a dict, or raw bytes for malformed-input tests) and decode the reply."""
    if isinstance(command, str):
        routing_key = command
    else:
        routing_key = command.routing_key
        kw.setdefault("exchange", rpc.topology.command_exchange(command))
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return json.loads(await rpc.call_raw(routing_key, raw, **kw))


def error_code(reply: dict[str, Any]) -> str | None:
    return None if reply["ok"] else reply["error"]["code"]


def error_fields(reply: dict[str, Any]) -> list[str]:
    return [f["field"] for f in reply["error"]["details"].get("fields", [])]
