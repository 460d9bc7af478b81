"""The durable event tap: a quorum queue bound to `<ns>.events` with `#`, declared before the
load starts and drained after it, so every event published meanwhile (across broker restarts
and node losses) can be counted by id."""

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aio_pika

from contracts.topology import Topology


def tap_queue(topology: Topology) -> str:
    return topology.consumer_queue("faults", "tap")


@dataclass
class Tap:
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # by event id
    copies: Counter[str] = field(default_factory=Counter)
    unreadable: int = 0

    def of_type(self, routing_key: str) -> list[dict[str, Any]]:
        return [e for e in self.events.values() if e.get("type") == routing_key]

    @property
    def redelivered(self) -> int:
        return sum(n - 1 for n in self.copies.values())


async def declare(amqp_url: str, topology: Topology) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        events = await channel.declare_exchange(
            topology.events, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(
            tap_queue(topology), durable=True, arguments={"x-queue-type": "quorum"}
        )
        await queue.bind(events, routing_key="#")


async def drain(amqp_url: str, topology: Topology) -> Tap:
    tap = Tap()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(tap_queue(topology), passive=True)
        while (message := await queue.get(fail=False, no_ack=True)) is not None:
            try:
                event = json.loads(message.body)
                event_id = str(event["id"])
            except (ValueError, KeyError, TypeError):
                tap.unreadable += 1  # the poison events of `poison_event` land here too
                continue
            tap.events.setdefault(event_id, event)
            tap.copies[event_id] += 1
    return tap
