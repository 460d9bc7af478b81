"""`verification.send_code.v1` by hand: ours is services/verification/flows/codes.py
`send_code`, run by the runtime's unit of work (services/runtime/commands.py, work.py) with
its recorded reply (services/runtime/recorded_replies.py).

Guarantees ours keeps, and where this one keeps them:
- the runtime's (size limit, message id, dead-lettering, an envelope for everything, the
  command counter): `references.amqp`;
- the request's shape (`send_to` 3 to 320 characters, a known `scenario`, a channel name and
  a locale by their patterns, nothing else): `_request`;
- answered once per message id: the recorded reply looked up first, keyed by (routing key,
  message id), with an HMAC of the request so a reused id with another body is refused, the
  reply sealed with AES-GCM bound to its key; recorded in the transaction of the code, and a
  concurrent duplicate that loses the insert rolls back and answers the winner's reply:
  `Records`, `answer`;
- two-factor codes refused to callers (`forbidden`), before anything is counted: `answer`;
- the recipient normalised (email-validator, phonenumbers), and refused when a custom
  channel announced a kind that cannot reach it (the registry read at most every 2 s):
  `_reachable`;
- a 6-digit code from `secrets`, stored only as an HMAC bound to recipient and scenario;
- the resend cooldown, the hourly cap per scenario class and the voiding of older codes,
  decided under a per-recipient lock in one round trip (`issue_code`, the same function as
  ours, in `references.schema`);
- the code commits only after the broker confirmed the delivery (persistent, mandatory, to a
  quorum queue, within the RPC timeout); an unroutable channel is `delivery_unavailable`
  and leaves no code: `answer`;
- the reply: `expires_at` and `resend_after`, in UTC with `Z`.

Not kept: the `idempotency-key` header of a state-changing command (ours claims and stores a
sealed reply per key); this reference refuses such a message as `invalid_params`, and the
benchmark sends none.
"""

import asyncio
import hashlib
import hmac
import json
import math
import re
import secrets
import time
import uuid
from datetime import timedelta

import aio_pika
import asyncpg
import phonenumbers
from aio_pika.exceptions import DeliveryError
from email_validator import EmailNotValidError, validate_email

from benchmarks.references import amqp
from benchmarks.references.records import Records

ROUTING_KEY = "verification.send_code.v1"
SCENARIOS = {
    "login": "sign_in",
    "reset_password": "sign_in",
    "two_factor": "second_factor",
    "register": "account",
    "bind": "account",
    "verify_contact": "account",
    "unbind": "account",
    "deregister": "account",
}
CLASS_SCENARIOS = {
    c: sorted(s for s, k in SCENARIOS.items() if k == c) for c in set(SCENARIOS.values())
}
CHANNEL = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
LOCALE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
BUILT_IN = {"email": "email", "sms": "phone"}
REACHES = {"email": "email", "sms": "phone"}  # a custom channel's announced kind → recipients
TTL, COOLDOWN, MAX_ATTEMPTS = timedelta(minutes=10), timedelta(seconds=60), 5
TIMEOUT_S = 10.0
REGISTRY_TTL_S = 2.0


def _request(body: bytes) -> dict[str, str] | bytes:
    try:
        request = json.loads(body)
    except ValueError:
        return amqp.invalid("body", "Invalid JSON")
    if not isinstance(request, dict):
        return amqp.invalid("body", "Input should be an object")
    for field in request.keys() - {"send_to", "scenario", "channel", "locale"}:
        return amqp.invalid(field, "Extra inputs are not permitted")
    send_to, channel = request.get("send_to"), request.get("channel")
    locale = request.setdefault("locale", "en")
    if not isinstance(send_to, str) or not 3 <= len(send_to) <= 320 or "\x00" in send_to:
        return amqp.invalid("send_to", "3 to 320 characters")
    if request.get("scenario") not in SCENARIOS:
        return amqp.invalid("scenario", "not a scenario")
    if not isinstance(channel, str) or not CHANNEL.fullmatch(channel):
        return amqp.invalid("channel", "not a channel name")
    if not isinstance(locale, str) or not LOCALE.fullmatch(locale):
        return amqp.invalid("locale", "not a language tag")
    return request


def _normalize(raw: str) -> tuple[str, str] | bytes:
    """(kind, normalised recipient), or the `invalid_params` reply."""
    if "@" in raw:
        try:
            return "email", validate_email(
                raw.strip(), check_deliverability=False
            ).normalized.lower()
        except EmailNotValidError:
            return amqp.invalid("send_to", "not a valid email address")
    try:
        number = phonenumbers.parse(raw.strip(), None)
    except phonenumbers.NumberParseException:
        return amqp.invalid("send_to", "not a valid phone number")
    if not phonenumbers.is_valid_number(number):
        return amqp.invalid("send_to", "not a valid phone number for its country")
    return "phone", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class _Refused(Exception):
    def __init__(self, reply: bytes) -> None:
        self.reply = reply


class _Duplicate(Exception):
    pass


def answerer(
    pool: asyncpg.Pool,
    connection: aio_pika.abc.AbstractConnection,
    delivery_exchange: str,
    secret: bytes,
    hourly_cap: int,
) -> amqp.Answer:
    records = Records(pool, secret, ROUTING_KEY)
    code_key = hmac.new(secret, b"code key", hashlib.sha256).digest()
    registry: dict[str, str | None] = {}
    registry_read = [-REGISTRY_TTL_S]
    exchange: list[aio_pika.abc.AbstractExchange] = []

    async def delivery() -> aio_pika.abc.AbstractExchange:
        if not exchange:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange.append(await channel.get_exchange(delivery_exchange, ensure=False))
        return exchange[0]

    async def reachable(kind: str, channel: str) -> bool:
        if channel in BUILT_IN:
            return BUILT_IN[channel] == kind
        if time.monotonic() - registry_read[0] >= REGISTRY_TTL_S:
            rows = await pool.fetch(
                "SELECT name, kind FROM channels"
                " WHERE namespace = current_setting('gatehouse.namespace')"
            )
            registry.clear()
            registry.update((r["name"], r["kind"]) for r in rows)
            registry_read[0] = time.monotonic()
        announced = registry.get(channel)
        return announced is None or REACHES[announced] == kind

    async def issue(request: dict[str, str], message_id: str | None, mac: bytes) -> bytes:
        scenario, channel = request["scenario"], request["channel"]
        if scenario == "two_factor":
            return amqp.error("forbidden", 13, "two_factor codes are sent by identity only")
        normalised = _normalize(request["send_to"])
        if isinstance(normalised, bytes):
            return normalised
        kind, send_to = normalised
        if not await reachable(kind, channel):
            return amqp.invalid("send_to", f"needs another kind for the {channel} channel")
        code = f"{secrets.randbelow(10**6):06d}"
        digest = hmac.new(
            code_key, f"{scenario}\x00{send_to}\x00{code}".encode(), hashlib.sha256
        ).digest()
        try:
            async with pool.acquire() as con, con.transaction():
                row = await con.fetchrow(
                    "SELECT * FROM issue_code($1, $2, $3, $4, $5, $6, $7, $8)",
                    send_to,
                    scenario,
                    digest,
                    TTL,
                    MAX_ATTEMPTS,
                    COOLDOWN,
                    hourly_cap,
                    CLASS_SCENARIOS[SCENARIOS[scenario]],
                )
                assert row is not None, "issue_code returns one row"
                if row["retry_after"] is not None:
                    raise _Refused(
                        amqp.error(
                            "rate_limited",
                            13,
                            "too many codes for this recipient; wait before asking again",
                            retry_after_s=max(1, math.ceil(row["retry_after"].total_seconds())),
                        )
                    )
                body = {"send_to": send_to, "code": code, "scenario": scenario}
                body |= {"channel": channel, "locale": request["locale"]}
                body["expires_at"] = amqp.stamp(row["expires_at"])
                message = aio_pika.Message(
                    json.dumps(body, separators=(",", ":")).encode(),
                    content_type="application/json",
                    message_id=uuid.uuid4().hex,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    headers={},
                )
                key = channel if channel in BUILT_IN else f"custom.{channel}"
                try:
                    async with asyncio.timeout(TIMEOUT_S):
                        await (await delivery()).publish(message, routing_key=key, mandatory=True)
                except DeliveryError:
                    raise _Refused(
                        amqp.error(
                            "delivery_unavailable",
                            13,
                            f"no consumer is bound for channel {channel!r}",
                            channel=channel,
                        )
                    ) from None
                resend_after = amqp.stamp(row["issued_at"] + COOLDOWN)
                reply = (
                    f'{{"ok":true,"result":{{"expires_at":"{body["expires_at"]}",'
                    f'"resend_after":"{resend_after}"}}}}'
                ).encode()
                if message_id is not None and not await records.record(con, message_id, mac, reply):
                    raise _Duplicate
                return reply  # commits on leaving the block
        except _Refused as refused:  # rolled back: no code, nothing counted
            return refused.reply
        except _Duplicate:  # another delivery of this message committed first
            return await records.find(message_id or "", mac) or amqp.INTERNAL

    async def answer(message: aio_pika.abc.AbstractIncomingMessage) -> bytes:
        if (message.headers or {}).get("idempotency-key") is not None:
            return amqp.invalid("idempotency-key", "not kept by this reference")
        request = _request(message.body)
        if isinstance(request, bytes):
            return request
        message_id = message.message_id
        mac = b""
        if message_id is not None:
            canonical = json.dumps(request, separators=(",", ":"), ensure_ascii=False).encode()
            mac = records.mac(message_id, canonical)
            if (recorded := await records.find(message_id, mac)) is not None:
                return recorded
        reply = await issue(request, message_id, mac)
        # Refusals are answered once too (ours records them outside a transaction).
        refused = not reply.startswith(b'{"ok":true')
        if (
            message_id is not None
            and refused
            and not await records.record(pool, message_id, mac, reply)
        ):
            return await records.find(message_id, mac) or amqp.INTERNAL
        return reply

    return answer
