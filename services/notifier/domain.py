"""Notifier rules: which failures are worth retrying, how long to wait, what a job is.

Pure: no broker, no SQL, no network. Providers raise the failures defined here; the
handlers ask `next_step` what to do with them.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from contracts.errors import ErrorCode
from contracts.notifier import v1 as notifier
from contracts.verification.v1 import Delivery
from gatehouse._recipients import Channel
from gatehouse.errors import GatehouseError
from services.shared.contacts import mask

# A message id arrives from other services; bounded so it fits a header and an index.
MAX_MESSAGE_ID = 200


class NotifierError(GatehouseError):
    """An error reply of `notifier.send`: a template or channel it cannot use."""

    code = ErrorCode.template_error


class DeliveryFailure(Exception):
    """A provider did not take the message. `reason` never contains message content."""

    permanent: bool = False

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientFailure(DeliveryFailure):
    """Worth trying again later: connection errors, SMTP 4xx, HTTP 5xx and 429."""

    def __init__(self, reason: str, *, retry_after_ms: int | None = None) -> None:
        super().__init__(reason)
        self.retry_after_ms = retry_after_ms


class PermanentFailure(DeliveryFailure):
    """Trying again cannot help: SMTP 5xx, HTTP 4xx, a template that does not render."""

    permanent = True


def smtp_failure(code: int, reason: str) -> DeliveryFailure:
    """RFC 5321: 4yz is a transient negative reply, 5yz a permanent one."""
    if 400 <= code < 500:
        return TransientFailure(f"smtp {code}: {reason}")
    return PermanentFailure(f"smtp {code}: {reason}")


def http_failure(status: int, retry_after: str | None = None) -> DeliveryFailure:
    """429 and 5xx are the provider's trouble and pass; other 4xx are ours and do not."""
    if status == 429:
        return TransientFailure(
            "http 429: rate limited", retry_after_ms=parse_retry_after(retry_after)
        )
    if status >= 500:
        return TransientFailure(f"http {status}: provider error")
    return PermanentFailure(f"http {status}: request refused")


def parse_retry_after(value: str | None, now: datetime | None = None) -> int | None:
    """`Retry-After` as delay-seconds or an HTTP date (RFC 9110 10.2.3), in milliseconds."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value) * 1000
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - (now or datetime.now(UTC))
    return max(int(delta.total_seconds() * 1000), 0)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_ms: int = 1000
    max_ms: int = 300_000

    def backoff_ms(self, attempt: int) -> int:
        """Wait after failed attempt `attempt` (1-based): base, 2 base, 4 base, … capped."""
        doubled: int = self.base_ms * 2 ** (attempt - 1)
        return min(doubled, self.max_ms)


@dataclass(frozen=True)
class Retry:
    delay_ms: int
    next_attempt: int


@dataclass(frozen=True)
class GiveUp:
    reason: str
    permanent: bool


def next_step(policy: RetryPolicy, attempt: int, failure: DeliveryFailure) -> Retry | GiveUp:
    if failure.permanent:
        return GiveUp(failure.reason, permanent=True)
    if attempt >= policy.max_attempts:
        return GiveUp(f"gave up after {attempt} attempts: {failure.reason}", permanent=False)
    delay = policy.backoff_ms(attempt)
    if isinstance(failure, TransientFailure) and failure.retry_after_ms is not None:
        # The provider said when; waiting less would only earn another 429. Whole seconds
        # keep the number of delay queues small.
        asked = -(-failure.retry_after_ms // 1000) * 1000
        delay = min(max(delay, asked), policy.max_ms)
    return Retry(delay_ms=delay, next_attempt=attempt + 1)


def delays(policy: RetryPolicy) -> list[int]:
    """Every delay `next_step` can choose: the backoff ladder, and whole seconds up to
    `max_ms` for a provider's Retry-After. Each is a delay queue, so this names them all
    up front (`gatehouse down --purge` deletes them without listing the broker)."""
    ladder = {policy.backoff_ms(attempt) for attempt in range(1, policy.max_attempts)}
    asked = {*range(1000, policy.max_ms + 1, 1000), policy.max_ms}
    return sorted(ladder | asked)


@dataclass(frozen=True)
class Job:
    """One message to send, whether it came as a code delivery or a `notifier.send` command.

    `secrets` are the values that must never appear in a log, an event or a failure reason.
    """

    message_id: str
    channel: Channel
    to: str
    template: str
    locale: str
    data: dict[str, Any]
    secrets: tuple[str, ...] = field(default=())

    @property
    def masked_to(self) -> str:
        return mask(self.to)

    @property
    def recipient_key(self) -> bytes:
        return recipient_key(self.to)

    def scrub(self, text: str) -> str:
        """`text` with every secret value of this job replaced by `***`."""
        for value in self.secrets:
            if value:
                text = text.replace(value, "***")
        return text


def recipient_key(normalised: str) -> bytes:
    """What the dedupe table stores instead of the address, so it holds no contact list."""
    return hashlib.sha256(normalised.encode()).digest()


def secrets_of(data: dict[str, Any]) -> tuple[str, ...]:
    """Every string value of a send's data: any of them may be a token or a code."""
    found: list[str] = []
    for value in data.values():
        if isinstance(value, str) and len(value) >= 4:
            found.append(value)
        elif (
            isinstance(value, int | float) and not isinstance(value, bool) and len(str(value)) >= 4
        ):
            found.append(str(value))
    return tuple(found)


def code_context(
    *, code: str, scenario: str, expires_at: datetime, now: datetime, to: str, locale: str
) -> dict[str, Any]:
    """What a verification-code template can use."""
    seconds = max((expires_at - now).total_seconds(), 0)
    return {
        "code": code,
        "scenario": scenario,
        "expires_at": expires_at,
        # Rounded up: "expires in 9 minutes" for 9 min 30 s left would be a lie.
        "expires_in_minutes": max(int(-(-seconds // 60)), 1),
        "to": to,
        "locale": locale,
    }


def stable_message_id(message_id: str | None, body: bytes) -> str:
    """The id the dedupe keys on: the AMQP message_id, or a digest of the body without one
    (two copies of one delivery have the same body), hashed when absurdly long."""
    if not message_id:
        return "body-" + hashlib.sha256(body).hexdigest()
    if len(message_id) > MAX_MESSAGE_ID:
        return "long-" + hashlib.sha256(message_id.encode()).hexdigest()
    return message_id


def attempt_of(header: object, max_attempts: int) -> int:
    """The attempt number a message carries; anything odd counts as the first."""
    try:
        attempt = int(str(header))
    except ValueError:
        return 1
    return min(max(attempt, 1), max_attempts)


def code_job(message_id: str, delivery: Delivery, channel: Channel) -> Job:
    """A verification code delivery (`contracts.verification.v1.Delivery`)."""
    context = code_context(
        code=delivery.code,
        scenario=delivery.scenario.value,
        expires_at=delivery.expires_at,
        now=datetime.now(UTC),
        to=delivery.send_to,
        locale=delivery.locale,
    )
    return Job(
        message_id=message_id,
        channel=channel,
        to=delivery.send_to,
        template=delivery.scenario.value,
        locale=delivery.locale,
        data=context,
        secrets=(delivery.code,),
    )


def channel_of(channel: notifier.Channel) -> Channel:
    """The contract's channel as the notifier names it."""
    return "email" if channel is notifier.Channel.email else "sms"


def send_job(message_id: str, send: notifier.Send) -> Job:
    """A job queued by `notifier.send.v1` (its `to` already normalised)."""
    return Job(
        message_id=message_id,
        channel=channel_of(send.channel),
        to=send.to,
        template=send.template,
        locale=send.locale,
        data={**send.data, "to": send.to, "locale": send.locale},
        secrets=secrets_of(send.data),
    )
