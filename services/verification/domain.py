"""Verification rules: code generation, digests, rate limits and check outcomes. No I/O."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.errors import ErrorCode
from services.runtime.errors import GatehouseError

CODE_DIGITS = 6
HOUR = timedelta(hours=1)


class VerificationError(GatehouseError):
    code = ErrorCode.code_invalid


@dataclass(frozen=True)
class Policy:
    ttl: timedelta
    max_attempts: int
    resend_cooldown: timedelta
    hourly_cap: int


def generate_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def digest(key: bytes, send_to: str, scenario: str, code: str) -> bytes:
    """Bound to recipient and scenario, so a leaked row proves nothing about other codes."""
    return hmac.new(key, f"{scenario}\x00{send_to}\x00{code}".encode(), hashlib.sha256).digest()


def _retry_after_s(until: datetime, now: datetime) -> int:
    return max(1, int((until - now).total_seconds() + 0.999))


def check_send_allowed(
    policy: Policy,
    now: datetime,
    last_sent_for_scenario: datetime | None,
    sent_last_hour: list[datetime],
) -> None:
    """Raise `rate_limited` with `retry_after_s` when the cooldown or the hourly cap applies."""
    if last_sent_for_scenario is not None:
        ready = last_sent_for_scenario + policy.resend_cooldown
        if ready > now:
            raise VerificationError(
                "a code was sent to this recipient moments ago; wait before asking again",
                code=ErrorCode.rate_limited,
                retry_after_s=_retry_after_s(ready, now),
            )
    if len(sent_last_hour) >= policy.hourly_cap:
        oldest_counted = sorted(sent_last_hour)[-policy.hourly_cap]
        raise VerificationError(
            "too many codes were sent to this recipient in the last hour",
            code=ErrorCode.rate_limited,
            retry_after_s=_retry_after_s(oldest_counted + HOUR, now),
        )


@dataclass(frozen=True)
class CheckResult:
    """What the atomic check-and-consume update saw for the live code."""

    matched: bool
    fresh: bool
    attempts: int
    max_attempts: int
    consumed: bool


def judge(result: CheckResult | None) -> None:
    """Turn the outcome of a check into success (return) or the error the caller sees."""
    if result is None:
        raise VerificationError("no valid code for this recipient and scenario; request a new one")
    if result.consumed:
        return
    if not result.fresh:
        raise VerificationError(
            "the code has expired; request a new one", code=ErrorCode.code_expired
        )
    if result.attempts >= result.max_attempts:
        raise VerificationError(
            "too many wrong attempts; request a new code", code=ErrorCode.too_many_attempts
        )
    raise VerificationError(
        "the code is not correct", attempts_left=result.max_attempts - result.attempts
    )
