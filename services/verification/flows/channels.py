"""A custom channel worker announces its channel and the kind of recipient it reaches."""

import logging

from contracts.topology import delivery_routing_key
from contracts.verification import v1
from services.verification import store
from services.verification.service import VerificationService

log = logging.getLogger("gatehouse.verification.channels")


async def register_channel(
    verification: VerificationService, request: v1.RegisterChannel
) -> v1.ChannelRegistered:
    kind = None if request.kind is None else request.kind.value
    pool = verification.service.pool
    if await store.channels.register_channel(pool, request.name, kind):
        # Workers announce again every minute: only news is worth a line.
        verification.channels.changed()
        log.info("channel %s registered (kind %s)", request.name, kind or "any")
    return v1.ChannelRegistered(routing_key=delivery_routing_key(request.name))
