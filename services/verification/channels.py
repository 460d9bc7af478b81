"""The custom channels verification knows of, and the kind of recipient each reaches.

`send_code` asks before it makes a code: a channel that only sends SMS would dead-letter a
code for an email address after `send_code` had answered `ok`, and the code would be
swallowed. Channel workers announce `(name, kind)` with `verification.register_channel.v1`
(see `gatehouse.channels` and flows/channels.py); a channel that declared no kind, or never
announced itself, is sent every recipient, as before kinds existed.
"""

import asyncio
import logging

from aio_pika.exceptions import ChannelPreconditionFailed

from contracts.topology import delivery_routing_key
from gatehouse._recipients import CHANNEL_REACHES, ContactKind
from services.runtime.broker import declare_bound_work_queue
from services.runtime.service import Service
from services.verification import store

log = logging.getLogger("gatehouse.verification.channels")

# Announcements reach other verification replicas within this long; the replica that takes
# one sees it at once. Saves a query on every send through a custom channel.
REGISTRY_TTL_S = 2.0


class Channels:
    def __init__(self, service: Service) -> None:
        self.service = service
        self._kinds: dict[str, str | None] = {}
        self._loaded_at: float | None = None
        self._loading = asyncio.Lock()

    async def declare(self, channel: str) -> None:
        """Declare the channel's queue and `.dlq` and bind it to `custom.<channel>`, for its
        worker to consume: workers may not bind to the delivery exchange (one that could
        would bind to `email` and read every code) nor declare queues that dead-letter into
        the namespace's dead-letter exchange. Again at each announcement, so a queue an
        operator deleted comes back."""
        service = self.service
        topology = service.topology
        channel_ = await service.publisher.channel()
        try:
            await declare_bound_work_queue(
                channel_,
                service.settings,
                topology.channel_queue(channel),
                topology.delivery,
                delivery_routing_key(channel),
            )
        except ChannelPreconditionFailed:
            # Declared before by a worker with other queue settings: it is bound, leave it.
            log.warning("the queue of channel %s exists with other arguments; kept", channel)
        finally:
            if not channel_.is_closed:
                await channel_.close()

    def changed(self) -> None:
        """An announcement changed the registry: read it again at the next send."""
        self._loaded_at = None

    async def reaches(self, channel: str) -> ContactKind | None:
        """The kind of recipient `channel` reaches; None when it takes any."""
        kind = channel if channel in CHANNEL_REACHES else (await self._registry()).get(channel)
        return None if kind is None else CHANNEL_REACHES[kind]

    async def _registry(self) -> dict[str, str | None]:
        # The whole table, not a row per name asked for: it is small, and a cache keyed by
        # caller-chosen names would grow without bound.
        loop = asyncio.get_running_loop()
        async with self._loading:
            if self._loaded_at is None or loop.time() - self._loaded_at >= REGISTRY_TTL_S:
                self._kinds = await store.channels.channel_kinds(self.service.pool)
                self._loaded_at = loop.time()
        return self._kinds
