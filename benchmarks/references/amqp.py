"""What every reference server shares: its command queue, declared as ours declares its own
(durable quorum queue, delivery limit, dead-letter queue), the reply envelopes, and the
consume loop (validate, answer, reply through direct reply-to without a confirm, then ack).

Guarantees of our runtime (services/runtime/commands.py, service.py) kept here for every
reference: a poison message dead-lettered after `DELIVERY_LIMIT` deliveries (`command_queue`);
every command answered with an envelope, `internal_error` for anything unexpected, the
exception's type logged and never its text (`serve`); a body over 640 KiB refused, a
`message_id` over 200 characters or with a NUL refused (`check_message`); a counter per
command and outcome (`serve`); the reply published before the ack (`serve`).
"""

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aio_pika
from prometheus_client import Counter

DELIVERY_LIMIT = 5
PREFETCH = 64
MAX_MESSAGE_BYTES = 640 * 1024
MAX_MESSAGE_ID = 200
INTERNAL = (
    b'{"ok":false,"error":{"code":"internal_error","status":-32603,"message":"internal error;'
    b' the correlation id identifies it in the service logs","details":{}}}'
)
log = logging.getLogger("reference")
COMMANDS = Counter("reference_commands_total", "Commands answered.", ["command", "outcome"])

Answer = Callable[[aio_pika.abc.AbstractIncomingMessage], Awaitable[bytes]]


def exchange_name(namespace: str) -> str:
    """The references' commands exchange: the same client drives ours and theirs."""
    return f"{namespace}.ref.commands"


def stamp(moment: datetime) -> str:
    """A time as our replies write it: ISO 8601 in UTC with `Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def error(code: str, status: int, message: str, **details: Any) -> bytes:
    body = {"code": code, "status": status, "message": message, "details": details}
    return b'{"ok":false,"error":' + json.dumps(body, separators=(",", ":")).encode() + b"}"


def invalid(field: str, message: str) -> bytes:
    fields = [{"field": field, "message": message}]
    return error("invalid_params", -32602, f"{field}: {message}", fields=fields)


def check_message(message: aio_pika.abc.AbstractIncomingMessage) -> bytes | None:
    """The refusal of a message too large or with an unusable message id, or None."""
    if len(message.body) > MAX_MESSAGE_BYTES:
        return invalid("body", "message too large")
    mid = message.message_id
    if mid is not None and not (0 < len(mid) <= MAX_MESSAGE_ID and "\x00" not in mid):
        return invalid("message_id", "invalid")
    return None


async def command_queue(
    channel: aio_pika.abc.AbstractChannel, namespace: str, routing_key: str
) -> aio_pika.abc.AbstractQueue:
    exchange = await channel.declare_exchange(
        exchange_name(namespace), aio_pika.ExchangeType.TOPIC, durable=True
    )
    dlx = await channel.declare_exchange(
        f"{namespace}.ref.dead-letter", aio_pika.ExchangeType.DIRECT, durable=True
    )
    name = f"{namespace}.ref.{routing_key}"
    dead = await channel.declare_queue(
        f"{name}.dlq", durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead.bind(dlx, routing_key=f"{name}.dlq")
    queue = await channel.declare_queue(
        name,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": dlx.name,
            "x-dead-letter-routing-key": f"{name}.dlq",
            "x-delivery-limit": DELIVERY_LIMIT,
        },
    )
    await queue.bind(exchange, routing_key=routing_key)
    return queue


async def serve(
    connection: aio_pika.abc.AbstractConnection, namespace: str, routing_key: str, answer: Answer
) -> None:
    """Consume `routing_key`'s queue and answer every message with `answer`."""
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=PREFETCH)
    replies = await connection.channel(publisher_confirms=False)
    queue = await command_queue(channel, namespace, routing_key)

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            reply = check_message(message) or await answer(message)
        except Exception as exc:
            log.error("%s failed with %s", routing_key, type(exc).__name__)
            reply = INTERNAL
        outcome = "ok" if reply.startswith(b'{"ok":true') else json.loads(reply)["error"]["code"]
        COMMANDS.labels(routing_key, outcome).inc()
        if message.reply_to:
            await replies.default_exchange.publish(
                aio_pika.Message(
                    reply, content_type="application/json", correlation_id=message.correlation_id
                ),
                routing_key=message.reply_to,
                mandatory=False,
            )
        await message.ack()

    await queue.consume(on_message)
