"""Consuming a lifecycle event: one policy for every service.

A body that is not a valid `CloudEvent[data]` of the expected type will never parse, however
often it is redelivered: it is rejected at once into `<queue>.dlq`, with one log line naming
the offending fields (never their values: an event body is user data) and a counter. A handler
that raises may succeed next time (the database was away): the message goes back to the queue,
and the queue's delivery limit dead-letters it once it has failed too often. No event is ever
acknowledged without its handler having finished.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faststream.rabbit import RabbitMessage
from pydantic import ValidationError

from contracts.envelope import CloudEvent
from contracts.topology import Event
from services.runtime.logs import raised_at
from services.runtime.metrics import count_invalid_event

EventHandler = Callable[[CloudEvent[Any]], Awaitable[None]]
Consumer = Callable[[RabbitMessage], Awaitable[None]]


def invalid_fields(exc: ValidationError) -> list[str]:
    """Where a body failed validation, as dotted paths; `body` when it is not JSON at all."""
    return sorted({".".join(map(str, e["loc"])) or "body" for e in exc.errors()})


def event_consumer(
    spec: Event,
    consumer: str,
    handler: EventHandler,
    log: logging.Logger,
    *,
    broker_counts_deliveries: bool,
) -> Consumer:
    """The raw-message consumer that validates, dispatches and settles one event.

    `broker_counts_deliveries`: the queue has a delivery limit (quorum queues). Classic
    queues count nothing, so there a message that failed twice is dead-lettered by hand
    rather than retried forever.
    """
    model: type[CloudEvent[Any]] = CloudEvent[spec.data]  # type: ignore[name-defined]

    async def consume(message: RabbitMessage) -> None:
        try:
            event = model.model_validate_json(message.body)
            fields = [] if event.type == spec.routing_key else ["type"]
        except ValidationError as exc:
            fields = invalid_fields(exc)
        if fields:
            log.error(
                "%s event %s for %s is malformed (fields: %s); dead-lettered",
                spec.routing_key,
                message.message_id,
                consumer,
                ", ".join(fields),
            )
            count_invalid_event(spec.routing_key, consumer)
            await message.reject(requeue=False)
            return
        try:
            await handler(event)
        except Exception as exc:
            # Type and place only: an exception's text can carry the values of the query that
            # failed, and an event's data is a user's contacts.
            log.error(
                "%s event %s failed in %s with %s at %s; returned to the queue",
                spec.routing_key,
                message.message_id,
                consumer,
                type(exc).__name__,
                raised_at(exc),
            )
            if broker_counts_deliveries or not message.raw_message.redelivered:
                await message.nack(requeue=True)
            else:
                await message.reject(requeue=False)

    return consume
