"""What a caller may send through `notifier.send.v1`, and how much of it.

Pure rules: no broker, no SQL. A mail that carries a code, a reset token or a security notice
is believed by its reader because it comes from us: those templates go out only from
Gatehouse itself (code deliveries, security notices, and `notifier.send_security.v1` on the
internal exchange). Callers may send the templates the operator lists
(`GATEHOUSE_NOTIFY_CALLER_TEMPLATES`), within hourly budgets per caller and for all callers
together, SMS counted apart from email (an SMS costs money: SMS pumping).
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.verification.v1 import Scenario
from gatehouse._recipients import Channel
from services.notifier.notices import TEMPLATES as NOTICE_TEMPLATES
from services.notifier.settings import NotifierSettings

RESET_TOKEN_TEMPLATE = "send_password_token"
# Every built-in template that carries a code (one per scenario), the reset token, or a
# security notice.
RESERVED: frozenset[str] = frozenset(
    {*(scenario.value for scenario in Scenario), RESET_TOKEN_TEMPLATE, *NOTICE_TEMPLATES.values()}
)
WINDOW = timedelta(hours=1)


def reserved_among(settings: NotifierSettings) -> list[str]:
    """The templates of `GATEHOUSE_NOTIFY_CALLER_TEMPLATES` callers must never send (a reset
    mail's template is reserved whatever identity names it)."""
    reserved = RESERVED | settings.reset_templates
    return sorted(set(settings.notify_caller_templates) & reserved)


@dataclass(frozen=True)
class Budget:
    scope: str  # `caller:<AMQP user_id>` (`caller:` for none) or `all`
    channel: Channel
    cap: int

    @property
    def who(self) -> str:
        return "all callers" if self.scope == "all" else "this caller"


def budgets(
    settings: NotifierSettings, caller: str | None, channel: Channel
) -> tuple[Budget, Budget]:
    """The two budgets one message spends, the caller's first."""
    if channel == "sms":
        own, everyone = settings.notify_caller_sms_per_hour, settings.notify_sms_per_hour
    else:
        own, everyone = settings.notify_caller_emails_per_hour, settings.notify_emails_per_hour
    return Budget(f"caller:{caller or ''}", channel, own), Budget("all", channel, everyone)


def window_start(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0)


def retry_after_s(now: datetime) -> int:
    """Seconds until the budgets' window (a clock hour) ends and they fill up again."""
    return max(1, math.ceil((window_start(now) + WINDOW - now).total_seconds()))
