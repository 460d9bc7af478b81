"""What verification serves: each command and event with the one flow that handles it."""

from contracts.events import v1 as events
from contracts.verification import v1
from services.runtime.routes import Route, Subscription, on, route
from services.verification.flows import channels, codes, deregistered
from services.verification.service import VerificationService

COMMANDS: tuple[Route[VerificationService], ...] = (
    route(v1.send_code, codes.send_code),
    route(v1.check_code, codes.check_code),
    route(v1.issue_code, codes.issue_code),
    route(v1.redeem_code, codes.redeem_code),
    route(v1.register_channel, channels.register_channel),
)
EVENTS: tuple[Subscription[VerificationService], ...] = (
    on(events.user_deregistered, "user-deregistered", deregistered.forget_contacts),
)
