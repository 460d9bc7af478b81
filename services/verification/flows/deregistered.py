"""Forget a deregistered user's contacts: `user.deregistered.v1` → delete their codes."""

from contracts.envelope import CloudEvent
from contracts.events import v1 as events
from gatehouse.errors import InvalidParams
from services.shared.contacts import normalize
from services.verification import store
from services.verification.service import VerificationService


async def forget_contacts(
    verification: VerificationService, event: CloudEvent[events.UserDeregistered]
) -> None:
    contacts: list[str] = []
    for contact in event.data.contacts:
        try:
            contacts.append(normalize(contact.value, "contact")[1])
        except InvalidParams:
            contacts.append(contact.value)
    # Idempotent, so a redelivered event (at-least-once) purges nothing twice over.
    deleted = await store.codes.purge(verification.service.pool, contacts)
    verification.log.info("purged %d codes of deregistered user %s", deleted, event.data.user_id)
