"""Verification rules: code generation, digests, rate limits and check outcomes. No I/O."""

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta

from contracts.errors import ErrorCode
from services.runtime.errors import GatehouseError

CODE_DIGITS = 6


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


def rate_limited(retry_after: timedelta) -> VerificationError:
    """The error for a send refused by the resend cooldown or the hourly cap.

    The limits themselves are applied by the database under a per-recipient lock (one round
    trip per send, and no two concurrent sends can both slip under a limit).
    """
    return VerificationError(
        "too many codes for this recipient; wait before asking again",
        code=ErrorCode.rate_limited,
        retry_after_s=max(1, math.ceil(retry_after.total_seconds())),
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
