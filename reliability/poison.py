"""Poison: malformed, huge and unknown-version commands, and malformed events.

A poison command must get its error reply (`invalid_params`, or `unknown_command` for a
version nobody serves) and the service must keep consuming. A poison event must be
dead-lettered by every queue a service consumes it from (not acknowledged and forgotten), and
the consumer must keep going: a valid event published after it must still take effect.
"""

import json
import time
import uuid
from datetime import UTC, datetime

import aio_pika

from contracts.envelope import CloudEvent
from contracts.events import v1 as events
from contracts.topology import Topology
from gatehouse.rpc import RpcClient
from reliability.gatehouse import CHANNEL
from reliability.records import OK, TIMEOUT, Record

SEND = "verification.send_code.v1"
REGISTER = "identity.register.v1"
LOGIN = "identity.login.v1"
INVALID = "invalid_params"
UNKNOWN = "unknown_command"
MEGABYTE = 1024 * 1024

_SEND_BODY = {"send_to": "poison@example.com", "scenario": "login", "channel": CHANNEL}

COMMANDS: list[tuple[str, str, bytes, str]] = [
    ("not json", SEND, b"{not json", INVALID),
    ("not utf-8", SEND, b"\xff\xfe\x00\x9c", INVALID),
    ("empty body", SEND, b"", INVALID),
    ("an array", SEND, b"[1, 2, 3]", INVALID),
    ("an unknown field", SEND, json.dumps({**_SEND_BODY, "version": 2}).encode(), INVALID),
    ("wrong types", LOGIN, b'{"username": 5, "password": true}', INVALID),
    (
        "NUL in a string",
        REGISTER,
        b'{"username": "poison\\u0000x", "password": "pw-12345678"}',
        INVALID,
    ),
    (
        "NaN",
        REGISTER,
        b'{"username": "poison_nan", "password": "pw-12345678", "properties": {"x": NaN}}',
        INVALID,
    ),
    (
        "deep nesting",
        REGISTER,
        b'{"username": "poison_deep", "password": "pw-12345678", "properties": {"x": '
        + b"[" * 50_000
        + b"]" * 50_000
        + b"}}",
        INVALID,
    ),
    (
        "over the size limit",
        REGISTER,
        json.dumps({"username": "poison_" + "x" * MEGABYTE, "password": "pw-12345678"}).encode(),
        INVALID,
    ),
    ("a version nobody serves", "identity.register.v9", b'{"username": "poison_v9"}', UNKNOWN),
    (
        "another unserved version",
        "verification.send_code.v0",
        json.dumps(_SEND_BODY).encode(),
        UNKNOWN,
    ),
]


async def send_commands(rpc: RpcClient, first_seq: int, timeout_s: float) -> list[Record]:
    """Each poison once, as a caller would send it; the replies become records."""
    records = []
    for i, (label, routing_key, body, expect) in enumerate(COMMANDS):
        record = Record(first_seq + i, "poison", routing_key, label, time.time(), expect=expect)
        try:
            reply = json.loads(await rpc.call_raw(routing_key, body, timeout_s=timeout_s))
            record.t_reply = time.time()
            record.outcome = OK if reply.get("ok") else reply["error"]["code"]
            if record.outcome == TIMEOUT:
                record.t_reply = None
        except Exception as exc:
            record.outcome = f"exception:{type(exc).__name__}"
        records.append(record)
    return records


async def send_fire_and_forget(amqp_url: str, topology: Topology) -> None:
    """Malformed commands without `reply_to`: nothing to answer, and nothing may stop."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(topology.commands, ensure=False)
        for _, routing_key, body, _ in COMMANDS[:4]:
            await exchange.publish(aio_pika.Message(body), routing_key=routing_key)


EVENTS: list[tuple[str, bytes]] = [
    ("not json", b"{not json"),
    ("not utf-8", b"\xff\xfe\x00\x9c"),
    ("not a cloud event", b'{"specversion": "1.0"}'),
    (
        "bad data",
        json.dumps(
            {
                "specversion": "1.0",
                "id": "x",
                "source": "poison",
                "type": "user.deregistered.v1",
                "time": "2026-01-01T00:00:00Z",
                "data": {"user_id": 5, "contacts": "nope"},
            }
        ).encode(),
    ),
    ("huge", json.dumps({"junk": "x" * MEGABYTE}).encode()),
]


def deregistered(address: str) -> CloudEvent[events.UserDeregistered]:
    data: dict[str, object] = {
        "user_id": "u_faultprobe",
        "contacts": [{"type": "email", "value": address}],
    }
    if "revoked_session_ids" in events.UserDeregistered.model_fields:  # a later v1 field
        data["revoked_session_ids"] = []
    return CloudEvent[events.UserDeregistered](
        id=str(uuid.uuid4()),
        source="reliability/poison",
        type=events.user_deregistered.routing_key,
        time=datetime.now(UTC),
        subject="u_faultprobe",
        data=events.UserDeregistered.model_validate(data),
    )


async def publish_events(amqp_url: str, topology: Topology, probe: str) -> list[str]:
    """Every poison event, then a valid `user.deregistered` for `probe`; returns the poisons'
    message ids."""
    ids = []
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(topology.events, ensure=False)
        key = events.user_deregistered.routing_key
        for label, body in EVENTS:
            message_id = f"poison-{label.replace(' ', '-')}-{uuid.uuid4().hex[:8]}"
            await exchange.publish(
                aio_pika.Message(body, message_id=message_id, delivery_mode=2), routing_key=key
            )
            ids.append(message_id)
        valid = deregistered(probe)
        await exchange.publish(
            aio_pika.Message(
                valid.model_dump_json().encode(), message_id=valid.id, delivery_mode=2
            ),
            routing_key=key,
        )
    return ids


async def dead_lettered(
    amqp_url: str, queues: list[str], topology: Topology
) -> dict[str, set[str]]:
    """The message ids in each queue's dead-letter queue."""
    found: dict[str, set[str]] = {}
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        for queue in queues:
            ids: set[str] = set()
            dlq = await channel.declare_queue(topology.dead_letter_queue(queue), passive=True)
            while (message := await dlq.get(fail=False, no_ack=True)) is not None:
                if message.message_id:
                    ids.add(message.message_id)
            found[queue] = ids
    return found
