"""`NotifierService`: what every notifier flow is given: the enabled channels, the templates,
the providers and the dispatcher that takes one message through claim, render and send."""

from services.notifier.dispatch import Dispatcher
from services.notifier.domain import RetryPolicy
from services.notifier.providers import Providers
from services.notifier.templates import Templates
from services.runtime.recipients import Channel
from services.runtime.service import Service

NAME = "notifier"


def policy_from(service: Service) -> RetryPolicy:
    settings = service.settings
    return RetryPolicy(
        max_attempts=settings.notify_max_attempts,
        base_ms=settings.notify_retry_base_ms,
        max_ms=settings.notify_retry_max_ms,
    )


class NotifierService:
    def __init__(self, service: Service, providers: Providers) -> None:
        self.service = service
        self.settings = service.settings
        self.channels: list[Channel] = list(service.settings.notify_channels)
        self.templates = Templates(service.settings.template_dir)
        self.providers = providers
        self.dispatcher = Dispatcher(service, self.templates, policy_from(service), providers)
        self.log = service.log

    def queue(self, channel: str) -> str:
        """The work queue of a channel, e.g. `gatehouse.notifier.email`."""
        return self.service.topology.consumer_queue(NAME, channel)
