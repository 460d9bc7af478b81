"""What happens to an account's standing and security settings: disabled and enabled by an
operator, signed out everywhere, two-factor login turned on or off, a second factor added or
removed, a remember token replayed."""

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from contracts.envelope import Contract
from contracts.events.v1.owner import CLIENT_EXAMPLE, OWNER_EXAMPLE, Owner, SignedFrom
from contracts.events.v1.user import IDENTITY, AllSessionsRevoked, RevokedSessionIds, UserId
from contracts.topology import Event


class UserDisabled(Contract):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u_8Zk3",
                    "until": "2026-02-01T00:00:00Z",
                    "revoked_session_ids": ["s_41Qa"],
                    "all_sessions_revoked": True,
                }
            ]
        }
    )

    user_id: str = UserId
    until: datetime | None = Field(None, description="When it ends by itself; null: when enabled.")
    revoked_session_ids: RevokedSessionIds
    all_sessions_revoked: AllSessionsRevoked = True


class UserEnabled(Contract):
    model_config = ConfigDict(json_schema_extra={"examples": [{"user_id": "u_8Zk3"}]})

    user_id: str = UserId


class UserSessionsRevoked(Contract):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u_8Zk3",
                    "cause": "admin",
                    "revoked_session_ids": ["s_41Qa", "s_9Xk2"],
                    "all_sessions_revoked": True,
                }
            ]
        }
    )

    user_id: str = UserId
    cause: Literal["admin", "password_reset_required"] = Field(
        description="`admin`: an operator signed the user out everywhere; "
        "`password_reset_required`: the next sign-in must reset the password."
    )
    revoked_session_ids: RevokedSessionIds
    all_sessions_revoked: AllSessionsRevoked = True


class UserMfaChanged(Contract):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u_8Zk3",
                    "enabled": True,
                    "revoked_session_ids": ["s_9Xk2"],
                    "all_sessions_revoked": False,
                    "owner": OWNER_EXAMPLE,
                    "client": CLIENT_EXAMPLE,
                }
            ]
        }
    )

    user_id: str = UserId
    enabled: bool = Field(description="Two-factor login is now asked for (or no longer).")
    revoked_session_ids: RevokedSessionIds
    all_sessions_revoked: AllSessionsRevoked = False
    owner: Owner = None
    client: SignedFrom = None


# The kinds of factor a user adds and removes; `totp`: an authenticator app (RFC 6238).
FactorKind = Literal["totp"]


class UserFactorAdded(Contract):
    """A second factor now counts for the account (a TOTP authenticator, once confirmed). Where
    the account did not ask for a second factor before, its other sessions proved none and were
    revoked, as when two-factor login is turned on. The factor's secret is never in an event."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u_8Zk3",
                    "factor": "totp",
                    "revoked_session_ids": ["s_9Xk2"],
                    "all_sessions_revoked": False,
                    "owner": OWNER_EXAMPLE,
                    "client": CLIENT_EXAMPLE,
                }
            ]
        }
    )

    user_id: str = UserId
    factor: FactorKind = Field(description="`totp`: an authenticator app.")
    revoked_session_ids: RevokedSessionIds
    all_sessions_revoked: AllSessionsRevoked = False
    owner: Owner = None
    client: SignedFrom = None


class UserFactorRemoved(Contract):
    """A second factor was removed from the account."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u_8Zk3",
                    "factor": "totp",
                    "owner": OWNER_EXAMPLE,
                    "client": CLIENT_EXAMPLE,
                }
            ]
        }
    )

    user_id: str = UserId
    factor: FactorKind = Field(description="`totp`: an authenticator app.")
    owner: Owner = None
    client: SignedFrom = None


class UserRecoveryCodeUsed(Contract):
    """A recovery code signed in: it is used up. The owner hears of it, since whoever holds the
    codes needs neither the password's second factor nor the phone; `remaining` tells when to
    make new ones. The code itself is never in an event."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u_8Zk3",
                    "remaining": 9,
                    "owner": OWNER_EXAMPLE,
                    "client": CLIENT_EXAMPLE,
                }
            ]
        }
    )

    user_id: str = UserId
    remaining: int = Field(ge=0, description="Recovery codes left unused.", examples=[9])
    owner: Owner = None
    client: SignedFrom = None


class UserRememberTokenReused(Contract):
    """A remember token that had been used was presented again: a copy of it was taken. Its
    whole chain (every token rotated from the same sign-in) and every session the chain issued
    were revoked, the thief's and the owner's alike: nothing tells which holder is which."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "user_id": "u_8Zk3",
                    "revoked_session_ids": ["s_41Qa", "s_9Xk2"],
                    "all_sessions_revoked": False,
                    "owner": OWNER_EXAMPLE,
                    "client": CLIENT_EXAMPLE,
                }
            ]
        }
    )

    user_id: str = UserId
    revoked_session_ids: RevokedSessionIds
    all_sessions_revoked: AllSessionsRevoked = False
    owner: Owner = None
    client: SignedFrom = None  # the client that presented the used token


user_disabled = Event(
    "user.disabled", 1, UserDisabled, "An operator disabled the account.", IDENTITY
)
user_enabled = Event("user.enabled", 1, UserEnabled, "An operator enabled the account.", IDENTITY)
user_sessions_revoked = Event(
    "user.sessions_revoked",
    1,
    UserSessionsRevoked,
    "An operator signed the user out everywhere.",
    IDENTITY,
)
user_mfa_changed = Event(
    "user.mfa_changed", 1, UserMfaChanged, "Two-factor login was turned on or off.", IDENTITY
)
user_factor_added = Event(
    "user.factor_added", 1, UserFactorAdded, "A second factor was added and confirmed.", IDENTITY
)
user_factor_removed = Event(
    "user.factor_removed", 1, UserFactorRemoved, "A second factor was removed.", IDENTITY
)
user_recovery_code_used = Event(
    "user.recovery_code_used",
    1,
    UserRecoveryCodeUsed,
    "A recovery code signed in and is used up.",
    IDENTITY,
)
user_remember_token_reused = Event(
    "user.remember_token_reused",
    1,
    UserRememberTokenReused,
    "A used remember token came back; its chain and the sessions it issued were revoked.",
    IDENTITY,
)
