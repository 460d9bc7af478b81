"""The outbox relay by hand: ours is services/runtime/relay.py (`OutboxRelay`).

Guarantees ours keeps, and where this one keeps them:
- woken by the commit's NOTIFY (the outbox trigger), polling every second besides: `run`;
- a batch leased in one statement (`FOR UPDATE SKIP LOCKED`, `next_attempt_at` a lease
  ahead), only this namespace's rows, oldest first, so replicas never publish a row twice at
  once: `CLAIM`, the same statement as ours;
- each event published persistent with a confirm, `message_id` its event id, as
  `application/cloudevents+json`, not mandatory; marked published only once confirmed, an
  unconfirmed one retried later with a backoff of its own: `batch`;
- at least once: a crash between confirm and mark publishes again.

Shortcuts: no command rows (identity's reset mail; the login reference writes none), and a
LISTEN connection that drops is not reopened (ours reopens it; until then both fall back on
the one-second poll).
"""

import asyncio
import contextlib
from typing import Any

import aio_pika
import asyncpg

BATCH = 100
LEASE_S = 15.0
GATHER_S = 0.002
POLL_S = 1.0
CLAIM = """
UPDATE outbox o SET next_attempt_at = now() + make_interval(secs => $2)
FROM (SELECT id FROM outbox
      WHERE published_at IS NULL AND namespace = current_setting('gatehouse.namespace')
        AND (next_attempt_at IS NULL OR next_attempt_at <= now())
      ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) due
WHERE o.id = due.id
RETURNING o.id, o.event_id, o.routing_key, o.body
"""
PUBLISHED = (
    "UPDATE outbox SET published_at = now(), next_attempt_at = NULL WHERE id = ANY($1::bigint[])"
)
RETRY_LATER = """
UPDATE outbox SET attempts = attempts + 1,
    next_attempt_at = now() + least(power(2, attempts), 30) * interval '1 second'
WHERE id = ANY($1::bigint[])
"""


class Relay:
    def __init__(
        self, pool: asyncpg.Pool, exchange: aio_pika.abc.AbstractExchange, listen: Any
    ) -> None:
        """`exchange`: on a channel with publisher confirms; `listen`: an asyncpg connection
        of its own for LISTEN."""
        self.pool = pool
        self.exchange = exchange
        self.listen = listen
        self.wake = asyncio.Event()

    async def batch(self) -> int:
        rows = sorted(await self.pool.fetch(CLAIM, BATCH, LEASE_S), key=lambda r: r["id"])
        if not rows:
            return 0
        results = await asyncio.gather(
            *(
                asyncio.wait_for(
                    self.exchange.publish(
                        aio_pika.Message(
                            bytes(row["body"]),
                            content_type="application/cloudevents+json",
                            message_id=str(row["event_id"]),
                            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        ),
                        routing_key=row["routing_key"],
                    ),
                    LEASE_S / 3,
                )
                for row in rows
            ),
            return_exceptions=True,
        )
        # An exception (a nack, a timeout, a lost channel) is a failure; anything else the
        # broker's confirm.
        confirmed = [
            r["id"] for r, res in zip(rows, results, strict=True) if not isinstance(res, Exception)
        ]
        failed = [
            r["id"] for r, res in zip(rows, results, strict=True) if isinstance(res, Exception)
        ]
        if confirmed:
            await self.pool.execute(PUBLISHED, confirmed)
        if failed:
            await self.pool.execute(RETRY_LATER, failed)
        return len(rows)

    async def run(self) -> None:
        await self.listen.add_listener("gatehouse_outbox", lambda *_: self.wake.set())
        while True:
            self.wake.clear()
            with contextlib.suppress(*RELAY_ERRORS):
                while await self.batch() == BATCH:
                    pass
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), POLL_S)
                await asyncio.sleep(GATHER_S)


RELAY_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, ConnectionError)
