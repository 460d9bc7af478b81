"""Forget a deregistered user's contacts: `user.deregistered.v1` → delete their codes."""

from contracts.envelope import CloudEvent
from contracts.events import v1 as events
from services.runtime.contacts import normalize
from services.runtime.errors import InvalidParams
from services.runtime.service import Service
from services.verification import store


def register(service: Service) -> None:
    async def purge(event: CloudEvent[events.UserDeregistered]) -> None:
        contacts: list[str] = []
        for contact in event.data.contacts:
            try:
                contacts.append(normalize(contact.value, "contact")[1])
            except InvalidParams:
                contacts.append(contact.value)
        # Idempotent, so a redelivered event (at-least-once) purges nothing twice over.
        deleted = await store.purge(service.pool, contacts)
        service.log.info("purged %d codes of deregistered user %s", deleted, event.data.user_id)

    service.event(events.user_deregistered, "user-deregistered", purge)
