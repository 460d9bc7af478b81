"""`notifier.send.v1`: check a message can go, then queue it on its channel's work queue,
where it is sent like a code delivery (retries, dedupe, events)."""

import uuid

from contracts.errors import ErrorCode
from contracts.notifier import v1
from services.notifier.domain import NotifierError, channel_of
from services.notifier.service import NotifierService
from services.runtime.contacts import normalize_email, normalize_phone


async def send(notifier: NotifierService, request: v1.Send) -> v1.Accepted:
    channel = channel_of(request.channel)
    if channel not in notifier.channels:
        raise NotifierError(
            f"{channel} is not enabled", code=ErrorCode.delivery_unavailable, channel=channel
        )
    if channel == "email":
        to = normalize_email(request.to, "to")
    else:
        to = normalize_phone(request.to, "to", notifier.settings.phone_region)
    if notifier.templates.resolve(request.template, request.locale, channel) is None:
        raise NotifierError(
            f"template {request.template!r} does not exist for {channel}",
            template=request.template,
        )
    message_id = uuid.uuid4().hex
    await notifier.enqueue(request.model_copy(update={"to": to}), message_id)
    return v1.Accepted(message_id=message_id)
