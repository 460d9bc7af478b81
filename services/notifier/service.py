"""`NotifierService`: what every notifier flow is given: the enabled channels, the templates,
the providers and the dispatcher that takes one message through claim, render and send."""

from aio_pika.exceptions import DeliveryError

from contracts.errors import ErrorCode
from contracts.notifier import v1
from gatehouse._recipients import Channel
from services.notifier.dispatch import Dispatcher
from services.notifier.domain import NotifierError, RetryPolicy, channel_of
from services.notifier.providers import Providers
from services.notifier.settings import NotifierSettings
from services.notifier.templates import Templates
from services.runtime.service import Service
from services.runtime.settings import narrow

NAME = "notifier"


def policy_from(settings: NotifierSettings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=settings.notify_max_attempts,
        base_ms=settings.notify_retry_base_ms,
        max_ms=settings.notify_retry_max_ms,
    )


class NotifierService:
    def __init__(self, service: Service, providers: Providers, templates: Templates) -> None:
        self.service = service
        self.settings = settings = narrow(service.settings, NotifierSettings)
        self.channels: list[Channel] = list(settings.notify_channels)
        self.templates = templates
        # What callers may send through notifier.send.v1 (app.build refused reserved ones).
        self.caller_templates = frozenset(settings.notify_caller_templates)
        self.providers = providers
        self.dispatcher = Dispatcher(service, self.templates, policy_from(settings), providers)
        self.log = service.log

    def queue(self, channel: str) -> str:
        """The work queue of a channel, e.g. `gatehouse.notifier.email`."""
        return self.service.topology.consumer_queue(NAME, channel)

    async def enqueue(self, job: v1.Send, message_id: str) -> None:
        """Queue a templated message (its `to` normalised) on its channel's work queue, where
        it is sent like a code delivery: retries, dedupe by `message_id`, outcome events."""
        channel = channel_of(job.channel)
        try:
            await self.service.broker.publish(
                job.model_dump_json().encode(),
                queue=self.queue(channel),
                message_id=message_id,
                message_type=v1.send.routing_key,
                content_type="application/json",
                persist=True,
                mandatory=True,
            )
        except DeliveryError:
            raise NotifierError(
                f"the {channel} queue is missing", code=ErrorCode.delivery_unavailable
            ) from None
