"""Real transports for notifier tests: an SMTP server, a Twilio-style HTTP API, event and
dead-letter taps. Nothing here mocks the notifier's own code: it talks to these over TCP."""

import asyncio
import email
import email.policy
import json
import logging
import random
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs

import aio_pika
from aio_pika.exceptions import ChannelNotFoundEntity
from aiosmtpd.controller import Controller

from contracts.envelope import CloudEvent
from contracts.verification.v1 import Delivery, Scenario
from gatehouse.rpc import RpcClient
from services.notifier.app import build
from services.notifier.domain import RetryPolicy
from services.ops.system import SystemSettings
from tests.support import eventually, random_email, random_phone, running

SID = "AC0123456789abcdef"
TOKEN = "auth-token-not-secret"
SENDER = "+15005550006"
MAIL_FROM = "Gatehouse Tests <no-reply@gatehouse.test>"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# SMTP ---------------------------------------------------------------------------------------


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1. Per recipient, scripted refusals come first:
    `fail(rcpt, "421 busy", times=2)`; `times=None` refuses forever."""

    def __init__(self) -> None:
        self.port = free_port()
        self._lock = threading.Lock()
        self._script: dict[str, tuple[str, int | None]] = {}
        self.attempts: dict[str, list[float]] = defaultdict(list)
        self.mails: dict[str, list[EmailMessage]] = defaultdict(list)
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        # aiosmtpd logs every DATA line at DEBUG: that is the receiving mailbox's log, not
        # Gatehouse's, and it would make the no-code-in-logs checks meaningless.
        logging.getLogger("mail.log").setLevel(logging.WARNING)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def fail(self, rcpt: str, response: str, times: int | None = 1) -> None:
        with self._lock:
            self._script[rcpt] = (response, times)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        rcpt = envelope.rcpt_tos[0]
        with self._lock:
            self.attempts[rcpt].append(time.monotonic())
            scripted = self._script.get(rcpt)
            if scripted is not None:
                response, times = scripted
                if times is None or times > 0:
                    if times is not None:
                        self._script[rcpt] = (response, times - 1)
                    return response
            mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
            self.mails[rcpt].append(mail)
        return "250 OK"

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    async def mail(self, rcpt: str, timeout_s: float = 10.0) -> EmailMessage:
        return (await eventually(lambda: self.mails.get(rcpt), timeout_s))[0]


def parts(mail: EmailMessage) -> tuple[str, str]:
    """(text, html) of a multipart/alternative mail."""
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None, "mail is not text + html"
    return text.get_content(), html.get_content()


# SMS ----------------------------------------------------------------------------------------


@dataclass
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]
    status: int
    at: float = field(default_factory=time.monotonic)


class SmsApi:
    """A Twilio-compatible Messages endpoint on 127.0.0.1, served with asyncio streams.
    Per `To` number, scripted answers come first: `fail(to, 429, {"Retry-After": "1"})`."""

    def __init__(self) -> None:
        self.port = 0
        self.requests: dict[str, list[HttpRequest]] = defaultdict(list)
        self._script: dict[str, list[tuple[int, dict[str, str]]]] = defaultdict(list)
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail(self, to: str, status: int, headers: dict[str, str] | None = None, times: int = 1):
        self._script[to].extend([(status, headers or {})] * times)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path, _ = (await reader.readline()).decode().split(" ", 2)
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                key, _, value = line.decode().partition(":")
                headers[key.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            to = form.get("To", "")
            status, extra = self._script[to].pop(0) if self._script[to] else (201, {})
            self.requests[to].append(HttpRequest(method, path, headers, form, status))
            payload = json.dumps(
                {"sid": f"SM{uuid.uuid4().hex}", "status": "queued"}
                if status < 400
                else {"code": status, "message": "scripted failure"}
            ).encode()
            head = [f"HTTP/1.1 {status} Scripted", "Content-Type: application/json"]
            head += [f"{k}: {v}" for k, v in extra.items()]
            head += [f"Content-Length: {len(payload)}", "Connection: close", "", ""]
            writer.write("\r\n".join(head).encode() + payload)
            await writer.drain()
        finally:
            writer.close()

    def accepted(self, to: str) -> list[HttpRequest]:
        return [r for r in self.requests[to] if r.status < 400]

    async def message(self, to: str, timeout_s: float = 10.0) -> HttpRequest:
        return (await eventually(lambda: self.accepted(to), timeout_s))[0]


# Broker taps --------------------------------------------------------------------------------


class EventTap:
    """An exclusive queue bound to the events exchange: every event body, as the broker has it."""

    def __init__(self, amqp_url: str, exchange: str, binding: str = "notification.#") -> None:
        self.amqp_url = amqp_url
        self.exchange = exchange
        self.binding = binding
        self.raw: list[bytes] = []
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(self.amqp_url)
        channel = await self._connection.channel()
        exchange = await channel.declare_exchange(
            self.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, self.binding)
        await queue.consume(self._on_message, no_ack=True)

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.raw.append(message.body)

    async def stop(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body in self.raw]

    async def outcome(self, message_id: str, timeout_s: float = 15.0) -> dict[str, Any]:
        """The notification event (type and data) for one message id."""

        def find() -> dict[str, Any] | None:
            for event in self.events():
                if event["data"].get("message_id") == message_id:
                    return event
            return None

        return await eventually(find, timeout_s)


class DeadLetters:
    """Reads a dead-letter queue, remembering every message id it took off it."""

    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url
        self.seen: dict[str, list[bytes]] = defaultdict(list)

    async def wait_for(self, queue: str, message_id: str, timeout_s: float = 10.0) -> bytes:
        connection = await aio_pika.connect(self.amqp_url)
        async with connection:
            channel = await connection.channel()
            dlq = await channel.get_queue(queue, ensure=False)
            deadline = time.monotonic() + timeout_s
            while message_id not in self.seen:
                got = await dlq.get(no_ack=True, fail=False)
                if got is not None:
                    self.seen[got.message_id or ""].append(got.body)
                elif time.monotonic() > deadline:
                    raise TimeoutError(f"{message_id} not in {queue}")
                else:
                    await asyncio.sleep(0.05)
        return self.seen[message_id][0]


async def publish_event(amqp_url: str, exchange: str, event: CloudEvent[Any]) -> None:
    """Publish a lifecycle event as identity's outbox relay does (persistent, id as message_id)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        ex = await channel.get_exchange(exchange, ensure=False)
        await ex.publish(
            aio_pika.Message(
                event.model_dump_json().encode(),
                message_id=event.id,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=event.type,
        )


async def publish_delivery(
    amqp_url: str,
    exchange: str,
    delivery: Delivery | bytes,
    routing_key: str,
    message_id: str | None = None,
) -> str:
    """Publish on the delivery exchange as the verification service does."""
    message_id = message_id or uuid.uuid4().hex
    body = delivery if isinstance(delivery, bytes) else delivery.model_dump_json().encode()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        ex = await channel.get_exchange(exchange, ensure=False)
        await ex.publish(
            aio_pika.Message(
                body,
                message_id=message_id,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=routing_key,
            mandatory=True,
        )
    return message_id


def code_delivery(
    send_to: str, channel: str = "email", scenario: str = "login", locale: str = "en"
) -> Delivery:
    """What verification publishes for one code."""
    return Delivery(
        send_to=send_to,
        code=f"{random.randint(0, 999_999):06d}",
        scenario=Scenario(scenario),
        channel=channel,
        locale=locale,
        expires_at=datetime.now(UTC) + timedelta(minutes=10),
    )


@dataclass
class Env:
    settings: SystemSettings
    sink: SmtpSink
    api: SmsApi
    tap: EventTap
    dead: DeadLetters
    rpc: RpcClient

    @property
    def amqp(self) -> str:
        return self.settings.amqp_url.get_secret_value()

    def queue(self, channel: str) -> str:
        return self.settings.topology.consumer_queue("notifier", channel)

    async def publish(self, event: CloudEvent[Any]) -> None:
        await publish_event(self.amqp, self.settings.topology.events, event)

    async def deliver(self, delivery: Delivery, message_id: str | None = None) -> str:
        return await publish_delivery(
            self.amqp, self.settings.topology.delivery, delivery, delivery.channel, message_id
        )

    async def settled(self, channel: str = "email", timeout_s: float = 20.0) -> None:
        """A barrier for "exactly once" checks: returns once every message published to
        `channel`'s queue before the call has been handled, its copies and retries included.

        A witness delivery goes through the same queue after them: the notifier consumes one
        message at a time, in order, so its outcome event means the earlier ones are done (and
        their events, committed first, were published first). A retry one of them scheduled
        waits in a delay queue and would come back after the witness, so the broker's counters
        must show every delay queue empty after the witness too, or a new witness follows.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            witness = random_email() if channel == "email" else random_phone()
            await self.tap.outcome(await self.deliver(code_delivery(witness, channel=channel)))
            if await self.waiting_retries(channel) == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"retries still waiting in the {channel} delay queues")
            await asyncio.sleep(0.05)

    async def waiting_retries(self, channel: str) -> int:
        """Messages in the delay queues of `channel` (the backoff ladder), by the broker."""
        s = self.settings
        policy = RetryPolicy(s.notify_max_attempts, s.notify_retry_base_ms, s.notify_retry_max_ms)
        names = {
            s.topology.delay_queue(self.queue(channel), policy.backoff_ms(attempt))
            for attempt in range(1, policy.max_attempts)
        }
        waiting = 0
        connection = await aio_pika.connect(self.amqp)
        async with connection:
            for name in sorted(names):
                channel_ = await connection.channel()
                try:
                    queue = await channel_.declare_queue(name, passive=True)
                except ChannelNotFoundEntity:
                    continue  # never declared: nothing ever waited there
                waiting += queue.declaration_result.message_count or 0
                await channel_.close()
        return waiting


@asynccontextmanager
async def notifier_env(
    make_settings: Callable[..., SystemSettings], **overrides: Any
) -> AsyncIterator[Env]:
    """A running notifier wired to a fresh SMTP sink and SMS API, with an event tap."""
    sink = SmtpSink()
    sink.start()
    api = SmsApi()
    await api.start()
    settings = make_settings(
        **{
            "smtp_url": sink.url,
            "mail_from": MAIL_FROM,
            "sms_url": api.url,
            "sms_account_sid": SID,
            "sms_auth_token": TOKEN,
            "sms_from": SENDER,
            "notify_retry_base_ms": 100,
            **overrides,
        }
    )
    amqp = settings.amqp_url.get_secret_value()
    tap = EventTap(amqp, settings.topology.events)
    await tap.start()
    service = build(settings)
    try:
        async with running(service), RpcClient(amqp, settings.topology, timeout_s=5) as rpc:
            yield Env(settings, sink, api, tap, DeadLetters(amqp), rpc)
    finally:
        await tap.stop()
        await api.stop()
        sink.stop()
