"""Helpers for identity tests: a running identity + verification pair, and event capture."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aio_pika

from contracts.identity import v1
from contracts.notifier import v1 as notifier
from contracts.verification import v1 as verification
from gatehouse.rpc import RpcClient, amqp_user
from services.identity.app import build as build_identity
from services.ops import scratch
from services.ops.system import SystemSettings
from services.runtime import db
from services.runtime.service import Service
from services.verification.app import build as build_verification
from tests import infra
from tests.support import Inbox, call, inbox_channels, random_phone, random_username, running

PASSWORD = "correct-horse-1"
SIGNING_SECRET = "test-signing-key-secret-not-secret"
# Access tokens on, as a deployment would turn them on; every test of the run shares one
# identity schema, and so one key set, which this secret opens.
ACCESS_TOKENS: dict[str, Any] = {
    "access_tokens": "jwt",
    "signing_key_secret": SIGNING_SECRET,
    "access_token_issuer": "https://id.example.test",
    "access_token_audience": ["orders", "billing"],
}


valid_phone = random_phone  # random_phone only returns numbers phonenumbers accepts


@dataclass
class Env:
    settings: SystemSettings
    identity: Service
    verification: Service
    rpc: RpcClient
    inbox: Inbox
    # An operator's client: the admin exchange, with the AMQP user_id of its connection.
    admin_rpc: RpcClient
    # A tap on the mails identity sends through notifier.send, for modules that set one.
    mails: "EventTap | None" = None

    async def call(self, command: Any, body: Any, **kw: Any) -> dict[str, Any]:
        return await call(self.rpc, command, body, **kw)

    async def admin(self, command: Any, body: Any, **kw: Any) -> dict[str, Any]:
        return await call(self.admin_rpc, command, body, **kw)

    async def login(self, username: str, **extra: Any) -> dict[str, Any]:
        return await self.call(v1.login, {"username": username, "password": PASSWORD, **extra})

    async def mailed_reset_token(self, username: str) -> str:
        """A reset token for `username`, read off the notifier.send command identity sends."""
        mails_exchange = self.settings.topology.internal
        async with tap(self.settings, mails_exchange, notifier.send_security.routing_key) as mails:
            reply = await self.call(v1.send_password_reset_token, {"username": username})
            assert reply["ok"], reply
            mail = await mails.wait_for(lambda b: True, wait_s=15)
        token: str = mail["data"]["password_reset_token"]
        return token

    async def code(self, send_to: str, scenario: str) -> str:
        channel = "inbox" if "@" in send_to else "inbox-sms"
        reply = await call(
            self.rpc,
            verification.send_code,
            {"send_to": send_to, "scenario": scenario, "channel": channel},
        )
        assert reply["ok"], reply
        return await self.inbox.code(send_to)

    async def age_codes(self, send_to: str, seconds: float) -> None:
        """As if `seconds` passed for the codes sent to `send_to`, without waiting for them:
        verification counts its resend cooldown from a code's `created_at`."""
        await self.verification.pool.execute(
            "UPDATE codes SET created_at = created_at - make_interval(secs => $2)"
            " WHERE send_to = $1",
            send_to,
            seconds,
        )

    async def register_verified(self, email: str, **body: Any) -> dict[str, Any]:
        """Register with a code for `email`: a contact counts only once proved (issue 22)."""
        return await self.register(email=email, code=await self.code(email, "register"), **body)

    async def register(self, **body: Any) -> dict[str, Any]:
        body.setdefault("username", random_username())
        body.setdefault("password", PASSWORD)
        body.setdefault("login", True)
        reply = await self.call(v1.register, body)
        assert reply["ok"], reply
        return reply["result"]


@asynccontextmanager
async def own_database(infrastructure: tuple[str, str]) -> AsyncIterator[str]:
    """A database of its own, for tests that need an identity schema nobody else writes to
    (its signing keys, say); dropped afterwards."""
    _, admin = infrastructure
    name = f"gatehouse_test_{uuid.uuid4().hex[:12]}"
    url = infra.database_url(admin, name)
    await db.ensure_database(url)
    try:
        yield url
    finally:
        await scratch.drop_database(admin, name)


def env_settings(make_settings: Any, **overrides: Any) -> SystemSettings:
    # The deployment most tests model requires verified email, so a verified email is a
    # second factor there (GATEHOUSE_MFA_EMAIL, off by default: tests/integration/test_mfa.py).
    values: dict[str, Any] = {
        "code_resend_cooldown_s": 0,
        "code_hourly_cap": 1000,
        "mfa_email": True,
    }
    values.update(overrides)
    return make_settings(**values)


@asynccontextmanager
async def identity_env(
    settings: SystemSettings, *, with_verification: bool = True
) -> AsyncIterator[Env]:
    """Identity (and verification, unless the tests never reach it: every service declares
    a quorum queue and a dead-letter queue per command, which a shared broker pays for)."""
    identity = build_identity(settings)
    verification_service = build_verification(settings)
    services = (verification_service, identity) if with_verification else (identity,)
    url = settings.amqp_url.get_secret_value()
    async with (
        running(*services),
        inbox_channels(settings, ("inbox", "email"), ("inbox-sms", "sms")) as inbox,
        RpcClient(url, settings.topology, timeout_s=10) as rpc,
        admin_client(settings) as admin_rpc,
    ):
        yield Env(settings, identity, verification_service, rpc, inbox, admin_rpc)


def admin_client(settings: SystemSettings, *, user_id: str | None = None) -> RpcClient:
    """An RPC client on the admin exchange, signing its requests with the AMQP user_id of its
    connection (or `user_id`, to see RabbitMQ refuse a spoofed one)."""
    url = settings.amqp_url.get_secret_value()
    return RpcClient(
        url,
        settings.topology,
        timeout_s=10,
        exchange=settings.topology.admin,
        user_id=user_id or amqp_user(url),
    )


@dataclass
class EventTap:
    """A queue bound to a topic exchange (events `#`, or one command) collecting messages."""

    messages: list[aio_pika.abc.AbstractIncomingMessage] = field(default_factory=list)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def _on(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(m.body) for m in self.messages]

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [b for b in self.bodies() if b.get("type") == type_]

    async def wait_for(self, predicate: Any, wait_s: float = 10.0) -> dict[str, Any]:
        async def seen() -> dict[str, Any]:
            async with self._arrived:
                while True:
                    for body in self.bodies():
                        if predicate(body):
                            return body
                    await self._arrived.wait()

        return await asyncio.wait_for(seen(), wait_s)

    async def event(self, type_: str, subject: str, wait_s: float = 10.0) -> dict[str, Any]:
        return await self.wait_for(
            lambda b: b.get("type") == type_ and b.get("subject") == subject, wait_s
        )


@asynccontextmanager
async def tap(
    settings: SystemSettings, exchange: str, routing_key: str = "#", *, passive: bool = False
) -> AsyncIterator[EventTap]:
    """`passive`: the exchange must exist already (a user without the right to declare it)."""
    collected = EventTap()
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        if passive:
            ex = await channel.declare_exchange(exchange, passive=True)
        else:
            ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(ex, routing_key)
        await queue.consume(collected._on, no_ack=True)
        yield collected
