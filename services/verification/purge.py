"""Forget a deregistered user's contacts: `user.deregistered.v1` → delete their codes."""

from faststream.rabbit import RabbitMessage
from pydantic import ValidationError

from contracts.envelope import CloudEvent
from contracts.events import v1 as events
from services.runtime.broker import work_queue
from services.runtime.contacts import normalize
from services.runtime.errors import InvalidParams
from services.runtime.service import Service
from services.verification import store


def register(service: Service) -> None:
    topology = service.topology
    queue = work_queue(
        service.settings,
        topology.consumer_queue("verification", "user-deregistered"),
        events.user_deregistered.routing_key,
    )

    async def purge(message: RabbitMessage) -> None:
        try:
            event = CloudEvent[events.UserDeregistered].model_validate_json(message.body)
        except ValidationError:
            service.log.warning("dropped a malformed user.deregistered event")
            return
        contacts: list[str] = []
        for contact in event.data.contacts:
            try:
                contacts.append(normalize(contact.value, "contact")[1])
            except InvalidParams:
                contacts.append(contact.value)
        # Idempotent, so a redelivered event (at-least-once) purges nothing twice over.
        deleted = await store.purge(service.pool, contacts)
        service.log.info("purged %d codes of deregistered user %s", deleted, event.data.user_id)

    service.consumer(queue, topology.events, purge)
