"""Forget a deregistered user's contacts: `user.deregistered.v1` → delete their dedupe rows."""

from contracts.envelope import CloudEvent
from contracts.events import v1 as events
from services.notifier import domain, store
from services.notifier.service import NotifierService


async def forget_recipients(
    notifier: NotifierService, event: CloudEvent[events.UserDeregistered]
) -> None:
    keys = [domain.recipient_key(c.value) for c in event.data.contacts]
    if keys:
        removed = await store.messages.forget_recipients(notifier.service.pool, keys)
        notifier.log.info("forgot %d message(s) of a deregistered user", removed)
