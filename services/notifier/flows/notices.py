"""Security notices (see `services.notifier.notices`): a lifecycle event in, a templated
mail or SMS to the account's owner out, queued on its channel like any `notifier.send`.

Each notice's message id is the event's id and the recipient's role, so a redelivered or
duplicated event queues the same message again and the dispatcher's claim sends it once.
A kind turned off (`GATEHOUSE_SECURITY_NOTICES`) is still consumed and then dropped: a queue
left without a consumer would fill up for good.
"""

from typing import Any

from contracts.envelope import CloudEvent
from contracts.events import v1 as events
from contracts.notifier import v1
from services.notifier import notices
from services.notifier.notices import SecurityNotice
from services.notifier.service import NotifierService


async def _notify(notifier: NotifierService, kind: SecurityNotice, event: CloudEvent[Any]) -> None:
    if kind not in notifier.settings.security_notices:
        notifier.log.debug("%s notice of %s not sent: turned off", kind, event.id)
        return
    for recipient in notices.recipients(kind, event.data):
        if recipient.channel not in notifier.channels:
            notifier.log.info(
                "%s notice of %s not sent: %s is off", kind, event.id, recipient.channel
            )
            continue
        job = v1.Send(
            channel=v1.Channel(recipient.channel),
            to=recipient.to,
            template=notices.TEMPLATES[kind],
            locale=notices.locale_of(event.data),
            data=notices.context(kind, event.data, event.time),
        )
        await notifier.enqueue(job, f"{event.id}.{recipient.role}")


async def password_changed(
    notifier: NotifierService, event: CloudEvent[events.UserPasswordChanged]
) -> None:
    await _notify(notifier, "password_changed", event)


async def password_reset(
    notifier: NotifierService, event: CloudEvent[events.UserPasswordReset]
) -> None:
    await _notify(notifier, "password_reset", event)


async def contact_bound(
    notifier: NotifierService, event: CloudEvent[events.UserContactBound]
) -> None:
    await _notify(notifier, "contact_bound", event)


async def contact_unbound(
    notifier: NotifierService, event: CloudEvent[events.UserContactUnbound]
) -> None:
    await _notify(notifier, "contact_unbound", event)


async def mfa_changed(notifier: NotifierService, event: CloudEvent[events.UserMfaChanged]) -> None:
    await _notify(notifier, "mfa_changed", event)


async def factor_added(
    notifier: NotifierService, event: CloudEvent[events.UserFactorAdded]
) -> None:
    await _notify(notifier, "factor_added", event)


async def factor_removed(
    notifier: NotifierService, event: CloudEvent[events.UserFactorRemoved]
) -> None:
    await _notify(notifier, "factor_removed", event)


async def recovery_code_used(
    notifier: NotifierService, event: CloudEvent[events.UserRecoveryCodeUsed]
) -> None:
    await _notify(notifier, "recovery_code_used", event)


async def remember_token_reused(
    notifier: NotifierService, event: CloudEvent[events.UserRememberTokenReused]
) -> None:
    await _notify(notifier, "remember_token_reused", event)
