"""An account's standing, as operators set it: disabled (for good or until a date), or owing
a new password before its next sign-in. Pure rules: the session gate asks them of every
sign-in, and `IdentityService.current` of every session in use."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from contracts.errors import ErrorCode
from services.identity.domain import IdentityError


def account_disabled(until: datetime | None) -> IdentityError:
    """The one answer of every sign-in to a disabled account; `until` when it ends by itself.
    The operator's reason is not in it: that is for the audit trail, not for the user."""
    if until is None:
        return IdentityError("this account is disabled", code=ErrorCode.account_disabled)
    stamp = until.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return IdentityError(
        f"this account is disabled until {stamp}", code=ErrorCode.account_disabled, until=stamp
    )


def password_reset_required() -> IdentityError:
    return IdentityError(
        "this account must set a new password before it signs in: reset it with a code"
        " (reset_password) or a mailed token (send_password_reset_token)",
        code=ErrorCode.password_reset_required,
    )


@dataclass(frozen=True)
class Standing:
    disabled: bool  # now: a disable whose `until` has passed is over
    disabled_until: datetime | None
    password_reset_required: bool

    @classmethod
    def of(cls, user: "Standing | HasStanding") -> "Standing":
        """From a user row (`store.rows.User`) or a standing read under a lock."""
        return cls(user.disabled, user.disabled_until, user.password_reset_required)


class HasStanding(Protocol):
    """A row with the standing's columns (`store.rows.User`)."""

    @property
    def disabled(self) -> bool: ...
    @property
    def disabled_until(self) -> datetime | None: ...
    @property
    def password_reset_required(self) -> bool: ...


def check(standing: Standing, *, resetting_password: bool) -> None:
    """Refuse a sign-in the standing forbids: a disabled account first, then one that owes a
    new password, unless this sign-in is the reset that sets it."""
    if standing.disabled:
        raise account_disabled(standing.disabled_until)
    if standing.password_reset_required and not resetting_password:
        raise password_reset_required()
