"""What the notifier serves: its command, the event it consumes, and each enabled channel's
delivery queue, with the one flow that handles each."""

from contracts.events import v1 as events
from contracts.notifier import v1
from services.notifier.flows import deliveries, deregistered, notices, send
from services.notifier.service import NotifierService
from services.runtime.routes import Route, Subscription, on, route

COMMANDS: tuple[Route[NotifierService], ...] = (
    route(v1.send, send.send),
    route(v1.send_security, send.send_security),
)
EVENTS: tuple[Subscription[NotifierService], ...] = (
    on(events.user_deregistered, "user-deregistered", deregistered.forget_recipients),
    # Security notices to the account's owner, one queue each (GATEHOUSE_SECURITY_NOTICES).
    on(events.user_password_changed, "notice-password-changed", notices.password_changed),
    on(events.user_password_reset, "notice-password-reset", notices.password_reset),
    on(events.user_contact_bound, "notice-contact-bound", notices.contact_bound),
    on(events.user_contact_unbound, "notice-contact-unbound", notices.contact_unbound),
    on(events.user_mfa_changed, "notice-mfa-changed", notices.mfa_changed),
    on(events.user_factor_added, "notice-factor-added", notices.factor_added),
    on(events.user_factor_removed, "notice-factor-removed", notices.factor_removed),
    on(
        events.user_recovery_code_used,
        "notice-recovery-code-used",
        notices.recovery_code_used,
    ),
    on(
        events.user_remember_token_reused,
        "notice-remember-token-reused",
        notices.remember_token_reused,
    ),
)
# Consumes `<ns>.notifier.<channel>` for every channel in GATEHOUSE_NOTIFY_CHANNELS.
DELIVERY = deliveries.deliver
