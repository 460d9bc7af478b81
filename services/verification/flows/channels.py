"""A custom channel worker announces its channel and the kind of recipient it reaches."""

import logging

from contracts.errors import ErrorCode
from contracts.topology import delivery_routing_key
from contracts.verification import v1
from services.runtime.work import UnitOfWork
from services.verification import store
from services.verification.domain import VerificationError
from services.verification.service import VerificationService

log = logging.getLogger("gatehouse.verification.channels")


async def register_channel(
    verification: VerificationService, uow: UnitOfWork, request: v1.RegisterChannel
) -> v1.ChannelRegistered:
    kind = None if request.kind is None else request.kind.value
    pool = verification.service.pool
    cap = verification.settings.channel_max
    changed = await store.channels.register_channel(pool, request.name, kind, cap)
    if changed is None:
        # Made-up names would each cost a durable queue: a new one beyond the cap is refused.
        log.warning(
            "channel %s refused: already %d channels (GATEHOUSE_CHANNEL_MAX)", request.name, cap
        )
        raise VerificationError(
            f"already {cap} channels are registered", code=ErrorCode.invalid_operation
        )
    if changed:
        # Workers announce again every minute: only news is worth a line.
        verification.channels.changed()
        log.info("channel %s registered (kind %s)", request.name, kind or "any")
    await verification.channels.declare(request.name)
    return v1.ChannelRegistered(routing_key=delivery_routing_key(request.name))
