"""How many tries: failed sign-ins per identifier and per account, password reset requests
per identifier. The counting is the database's (one statement per attempt, see
store/credentials.py and store/resets.py); these rules read the counts. No I/O."""

from datetime import datetime, timedelta

from contracts.errors import ErrorCode
from services.identity.domain import IdentityError, Policy

RESET_REQUEST_WINDOW = timedelta(hours=1)  # the caps on reset mails are per hour


def over_limit(policy: Policy, failures: int, window_start: datetime, now: datetime) -> bool:
    """Whether `failures` (this attempt included) exceed the limit of a live window."""
    return failures > policy.max_failures and window_start + policy.failure_window > now


def throttled(
    policy: Policy, failures: int, window_start: datetime, now: datetime
) -> IdentityError | None:
    """The error to answer when the identifier's failures exceed the limit. Only the
    identifier's own bucket answers this way: it exists for unknown identifiers too."""
    if not over_limit(policy, failures, window_start, now):
        return None
    window_end = window_start + policy.failure_window
    return IdentityError(
        "too many failed sign-ins with this identifier; try again later",
        code=ErrorCode.too_many_attempts,
        retry_after_s=max(1, int((window_end - now).total_seconds() + 0.999)),
    )


def reset_throttled(
    cap: int, window: timedelta, requests: int, window_start: datetime, now: datetime
) -> IdentityError | None:
    """Reset requests with one identifier beyond the hourly cap. The bucket exists for
    unknown identifiers too, so this reply says nothing about whether an account exists."""
    window_end = window_start + window
    if requests <= cap or window_end <= now:
        return None
    return IdentityError(
        "too many password reset requests for this identifier; try again later",
        code=ErrorCode.rate_limited,
        retry_after_s=max(1, int((window_end - now).total_seconds() + 0.999)),
    )
