"""The outbox relay: publishes what `services.runtime.outbox` holds once it is committed.

- The relay leases a batch in one statement (`FOR UPDATE SKIP LOCKED`, then `next_attempt_at`
  moved a lease ahead), publishes it, and marks what the broker confirmed in a second
  statement: two round trips a batch, and no connection held while the broker confirms.
  Several replicas share the work without publishing a row twice concurrently. A relay
  stopped mid-batch hands its lease back; one killed mid-batch leaves it to expire, and its
  rows go out again once it ends (`LEASE_S`). A crash between the confirm and the mark
  publishes those rows again: delivery is at least once, and consumers dedupe by the event
  id (also the AMQP message_id).
- It wakes on LISTEN/NOTIFY and also polls, so a lost notification only delays an event.
  The LISTEN connection is re-established whenever the database drops it
  (`services.runtime.listener`), so a restart costs seconds of polling, not polling for good.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any, Protocol

import asyncpg
from aio_pika.exceptions import DeliveryError
from faststream.rabbit import RabbitExchange

from contracts.topology import Topology
from services.runtime.broker import topic_exchange
from services.runtime.listener import Connect, Listener
from services.runtime.outbox import NOTIFY_CHANNEL

log = logging.getLogger("gatehouse.outbox")

# How long a claimed batch is the claimer's alone. A publish not confirmed within a third of
# it counts as failed and is retried later, so a live relay always marks its batch before the
# lease ends; only a killed relay's rows wait for it to run out.
LEASE_S = 15.0

# What a database or broker outage raises: the relay waits and tries again. InterfaceError
# is a connection that died under a query (`ConnectionDoesNotExistError`).
RELAY_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    RuntimeError,
    ConnectionError,
    TimeoutError,
)


class Publishes(Protocol):
    """What the relay needs of a broker (a `RabbitBroker`; tests pass failing ones)."""

    async def publish(
        self,
        message: bytes,
        *,
        exchange: RabbitExchange,
        routing_key: str,
        message_id: str,
        content_type: str,
        persist: bool,
        mandatory: bool,
    ) -> Any: ...


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        broker: Publishes,
        exchange: str,
        *,
        topology: Topology | None = None,
        listen: Connect | None = None,
        name: str = "outbox",
        batch_size: int = 100,
        poll_interval_s: float = 1.0,
        gather_s: float = 0.002,
        max_backoff_s: float = 30.0,
        lease_s: float = LEASE_S,
    ) -> None:
        """`listen` opens the connection that LISTENs for commits (`db.connect`); without
        it the relay only polls, every `poll_interval_s`."""
        self._pool = pool
        self._broker = broker
        self._exchange = topic_exchange(exchange)
        # Where command rows go: the exchange of their kind (`Command.exchange`).
        self._topology = topology
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._max_backoff_s = max_backoff_s
        self._gather_s = gather_s
        self._lease_s = lease_s
        self._wake = asyncio.Event()
        self._listener = (
            None if listen is None else Listener(listen, NOTIFY_CHANNEL, self._wake.set, name=name)
        )

    @property
    def listening(self) -> bool:
        """True while commits wake the relay at once; False while it only polls."""
        return self._listener is not None and self._listener.listening

    async def run(self) -> None:
        """Publish until cancelled; retries with backoff while the broker refuses."""
        listening = (
            None
            if self._listener is None
            else asyncio.create_task(self._listener.run(), name=f"{self._listener.name}-listen")
        )
        try:
            await self._relay()
        finally:
            if listening is not None:
                listening.cancel()
                await asyncio.gather(listening, return_exceptions=True)

    async def _relay(self) -> None:
        backoff = self._poll_interval_s
        failing = False
        while True:
            # Cleared before the batch, not after it: a commit notified while a batch runs
            # must wake the next wait, not be wiped out and left for the poll.
            self._wake.clear()
            try:
                while await self.publish_batch() == self._batch_size:
                    pass
                if failing:
                    log.info("outbox relay is publishing again")
                backoff, failing = self._poll_interval_s, False
            except RELAY_ERRORS as exc:
                # One WARNING per outage, not one per retry; the recovery is logged too.
                level = logging.DEBUG if failing else logging.WARNING
                log.log(level, "outbox relay will retry in %.1fs: %s", backoff, type(exc).__name__)
                backoff, failing = min(backoff * 2, self._max_backoff_s), True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), backoff)
                # Let the commits of a burst land, so one batch carries them all: a
                # batch costs the same few round trips whether it holds 1 event or 50.
                await asyncio.sleep(self._gather_s)

    async def claim(self) -> list[asyncpg.Record]:
        """Lease the next batch of due rows, oldest first (what `publish_batch` starts with)."""
        rows = await self._pool.fetch(_CLAIM, self._batch_size, self._lease_s)
        return sorted(rows, key=_by_id)

    async def publish_batch(self) -> int:
        """Publish one batch of pending rows; returns how many it took (published or deferred).

        A row the broker did not take is retried later, with a backoff of its own, so it never
        holds back the rows behind it. Raises `ConnectionError` after marking what was
        confirmed when the broker failed (not merely returned an unroutable command).
        """
        rows = await self.claim()
        if not rows:
            return 0
        try:
            results = await asyncio.gather(
                *(asyncio.wait_for(self._publish(row), self._lease_s / 3) for row in rows),
                return_exceptions=True,
            )
        except asyncio.CancelledError:
            # Stopping: hand the lease back, so another replica (or this one's successor)
            # need not wait for it. Rows already confirmed are published again, at least once.
            with contextlib.suppress(*RELAY_ERRORS):
                await asyncio.shield(self._pool.execute(_RELEASE, [r["id"] for r in rows]))
            raise
        confirmed = [
            row["id"]
            for row, result in zip(rows, results, strict=True)
            if not isinstance(result, BaseException)
        ]
        done = set(confirmed)
        unconfirmed = [row["id"] for row in rows if row["id"] not in done]
        if confirmed:
            await self._pool.execute(_PUBLISHED, confirmed)
        if unconfirmed:
            await self._pool.execute(_RETRY_LATER, unconfirmed, self._max_backoff_s)
        unroutable = [
            row["routing_key"]
            for row, result in zip(rows, results, strict=True)
            if isinstance(result, DeliveryError)
        ]
        for routing_key in sorted(set(unroutable)):
            log.warning(
                "outbox: nobody serves %s yet; the command waits and is retried", routing_key
            )
        if len(unconfirmed) > len(unroutable):
            raise ConnectionError(f"{len(unconfirmed)} events not confirmed by the broker")
        return len(rows)

    def _publish(self, row: asyncpg.Record) -> Awaitable[Any]:
        if row["exchange"] is None:
            return self._broker.publish(
                bytes(row["body"]),
                exchange=self._exchange,
                routing_key=row["routing_key"],
                message_id=str(row["event_id"]),
                content_type="application/cloudevents+json",
                persist=True,
                # Events go to whoever is subscribed, possibly nobody yet.
                mandatory=False,
            )
        if self._topology is None:
            raise RuntimeError("this relay was given no topology to send commands with")
        return self._broker.publish(
            bytes(row["body"]),
            exchange=topic_exchange(self._topology.exchange(row["exchange"])),
            routing_key=row["routing_key"],
            message_id=str(row["event_id"]),
            content_type="application/json",
            persist=True,
            # A command nobody serves yet stays in the outbox and is retried.
            mandatory=True,
        )


# Lease the oldest due rows of this namespace; RETURNING gives them in no particular order.
_CLAIM = """
UPDATE outbox o SET next_attempt_at = now() + make_interval(secs => $2)
FROM (SELECT id FROM outbox
      WHERE published_at IS NULL AND namespace = current_setting('gatehouse.namespace')
        AND (next_attempt_at IS NULL OR next_attempt_at <= now())
      ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) due
WHERE o.id = due.id
RETURNING o.id, o.event_id, o.routing_key, o.body, o.exchange
"""
# Confirmed: an event is kept a while, marked; a command may carry a secret (a reset token),
# so nothing of it stays once it left.
_PUBLISHED = """
WITH sent_commands AS (
    DELETE FROM outbox WHERE id = ANY($1::bigint[]) AND exchange IS NOT NULL
)
UPDATE outbox SET published_at = now(), next_attempt_at = NULL
WHERE id = ANY($1::bigint[]) AND exchange IS NULL
"""
_RETRY_LATER = """
UPDATE outbox SET attempts = attempts + 1,
    next_attempt_at = now() + least(power(2, attempts), $2) * interval '1 second'
WHERE id = ANY($1::bigint[])
"""
_RELEASE = (
    "UPDATE outbox SET next_attempt_at = NULL WHERE id = ANY($1::bigint[]) AND published_at IS NULL"
)


def _by_id(row: asyncpg.Record) -> int:
    return int(row["id"])
