"""`notifier.send.v1` (callers) and `notifier.send_security.v1` (Gatehouse's own services):
check a message can go, then queue it on its channel's work queue, where it is sent like a
code delivery (retries, dedupe, events).

A caller may send only the templates the operator lists, within its hourly budgets (see
`services.notifier.policy`); Gatehouse's own mail, on the internal exchange, any template.
"""

import uuid
from datetime import UTC, datetime

from contracts.errors import ErrorCode
from contracts.notifier import v1
from services.notifier import policy, store
from services.notifier.domain import NotifierError, channel_of
from services.notifier.service import NotifierService
from services.runtime import caller
from services.runtime.work import UnitOfWork
from services.shared.contacts import normalize_email, normalize_phone


async def send(notifier: NotifierService, uow: UnitOfWork, request: v1.Send) -> v1.Accepted:
    to = _recipient(notifier, request)
    if request.template not in notifier.caller_templates:
        raise NotifierError(
            f"template {request.template!r} is not one callers may send"
            " (GATEHOUSE_NOTIFY_CALLER_TEMPLATES)",
            code=ErrorCode.forbidden,
            template=request.template,
        )
    _require_template(notifier, request)
    now = datetime.now(UTC)
    channel = channel_of(request.channel)
    spent = await store.budgets.spend(
        notifier.service.pool,
        notifier.service.topology.namespace,
        policy.window_start(now),
        policy.budgets(notifier.settings, caller.get(), channel),
    )
    if spent is not None:
        raise NotifierError(
            f"the hourly {channel} budget of {spent.who} is spent",
            code=ErrorCode.rate_limited,
            retry_after_s=policy.retry_after_s(now),
            channel=channel,
        )
    return await _queue(notifier, request.model_copy(update={"to": to}))


async def send_security(
    notifier: NotifierService, uow: UnitOfWork, request: v1.Send
) -> v1.Accepted:
    to = _recipient(notifier, request)
    _require_template(notifier, request)
    return await _queue(notifier, request.model_copy(update={"to": to}))


def _recipient(notifier: NotifierService, request: v1.Send) -> str:
    """`to` normalised for its channel, once that channel is served."""
    channel = channel_of(request.channel)
    if channel not in notifier.channels:
        raise NotifierError(
            f"{channel} is not enabled", code=ErrorCode.delivery_unavailable, channel=channel
        )
    if channel == "email":
        return normalize_email(request.to, "to")
    return normalize_phone(request.to, "to", notifier.settings.phone_region)


def _require_template(notifier: NotifierService, request: v1.Send) -> None:
    channel = channel_of(request.channel)
    if notifier.templates.resolve(request.template, request.locale, channel) is None:
        raise NotifierError(
            f"template {request.template!r} does not exist for {channel}",
            template=request.template,
        )


async def _queue(notifier: NotifierService, job: v1.Send) -> v1.Accepted:
    message_id = uuid.uuid4().hex
    await notifier.enqueue(job, message_id)
    return v1.Accepted(message_id=message_id)
