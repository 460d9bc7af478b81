"""Transactional outbox: events (and commands a flow promises) are rows written in the state
change's transaction; the relay (`services.runtime.relay`) publishes them once committed.

- `enqueue()` is called inside the caller's transaction: a rolled-back change leaves no row,
  so no event is ever published for it; a committed change always leaves one.
- A trigger (runtime migration 003) notifies `NOTIFY_CHANNEL` when such a transaction
  commits, which wakes the relay.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from pydantic import BaseModel

from contracts.envelope import CloudEvent
from contracts.topology import Command, Event
from services.runtime import db
from services.runtime.db import Connection

NOTIFY_CHANNEL = "gatehouse_outbox"


def cloud_event(
    spec: Event[Any], data: BaseModel, *, source: str, subject: str | None = None
) -> CloudEvent[Any]:
    return CloudEvent[Any](
        id=str(uuid.uuid4()),
        source=source,
        type=spec.routing_key,
        time=datetime.now(UTC),
        subject=subject,
        data=data.model_dump(mode="json"),
    )


# The `exchange` column of a row: NULL for an event (the events exchange), the kind of exchange
# of a command (`Command.exchange`: `commands`, `internal`, ...) for a command.

Row = tuple[uuid.UUID, str, bytes, str | None]


def _insert(first: int, when: str | None = None) -> str:
    values = f"${first}, ${first + 1}, ${first + 2}, ${first + 3}"
    rows = f"VALUES ({values})" if when is None else f"SELECT {values} WHERE {when}"
    return f"INSERT INTO outbox (event_id, routing_key, body, exchange) {rows}"


def row(event: CloudEvent[Any]) -> Row:
    """The parameters of an outbox insert, in the order `_insert` and `cte` take them."""
    return uuid.UUID(event.id), event.type, event.model_dump_json().encode(), None


def command_row(spec: Command[Any, Any], request: BaseModel) -> Row:
    """A fire-and-forget command to publish once committed; its row id is its message id, so
    the receiving service answers a second publication of it (at least once) from its record."""
    body = request.model_dump_json(exclude_none=True).encode()
    return uuid.uuid4(), spec.routing_key, body, spec.exchange


def cte(first: int, when: str | None = None) -> str:
    """`outbox_event AS (INSERT ...)`, for a statement that writes a state change and its
    event at once, with `row(event)` as its parameters `$first` to `$first + 3` (inserted only
    `when` that SQL condition holds, if given). One statement is atomic on its own: one round
    trip where BEGIN, change, event and COMMIT take four."""
    return f"outbox_event AS ({_insert(first, when)})"


async def enqueue(con: Connection, event: CloudEvent[Any]) -> None:
    """Write `event` to the outbox; must run inside the transaction of the state change."""
    # A trigger (runtime migration 003) notifies the relay when the transaction commits.
    await con.execute(_insert(1), *row(event))


async def purge_published(pool: asyncpg.Pool, older_than_s: int = 7 * 24 * 3600) -> int:
    """Published events are kept a week for inspection, then removed."""
    return await db.delete(
        pool,
        "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)",
        older_than_s,
    )
