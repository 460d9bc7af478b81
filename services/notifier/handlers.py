"""What the notifier serves: its command, the event it consumes, and each enabled channel's
delivery queue, with the one flow that handles each."""

from contracts.events import v1 as events
from contracts.notifier import v1
from services.notifier.flows import deliveries, deregistered, send
from services.notifier.service import NotifierService
from services.runtime.routes import Route, Subscription, on, route

COMMANDS: tuple[Route[NotifierService], ...] = (route(v1.send, send.send),)
EVENTS: tuple[Subscription[NotifierService], ...] = (
    on(events.user_deregistered, "user-deregistered", deregistered.forget_recipients),
)
# Consumes `<ns>.notifier.<channel>` for every channel in GATEHOUSE_NOTIFY_CHANNELS.
DELIVERY = deliveries.deliver
