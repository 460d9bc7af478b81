"""What replies show: a user, a session, and the small results several commands share."""

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from contracts.envelope import Contract
from contracts.identity.v1.fields import AccessToken, AccessTokenExpiresAt, Token


class User(Contract):
    """What any reply shows of a user: never the internal key, never a credential."""

    id: str = Field(description="Public id of the user.", examples=["u_8Zk3fQ2b9xW1"])
    username: str | None = Field(None, examples=["ada_lovelace"])
    email: str | None = Field(None, examples=["ada@example.com"])
    phone: str | None = Field(None, examples=["+447911123456"])
    email_verified: bool = Field(False, description="The email was proven with a code.")
    phone_verified: bool = Field(False, description="The phone was proven with a code.")
    properties: dict[str, Any] = Field(default_factory=dict, examples=[{"age": 21}])
    app_metadata: dict[str, Any] = Field(
        default_factory=dict, description="Set by hooks.", examples=[{"plan": "pro"}]
    )
    user_metadata: dict[str, Any] = Field(
        default_factory=dict, description="Set by hooks.", examples=[{"theme": "dark"}]
    )
    mfa_enabled: bool = Field(False, description="Two-factor login asked for this account.")
    created_at: datetime
    updated_at: datetime


class Session(Contract):
    token: str = Field(
        description="Opaque 256-bit token; send it as `token` to commands that need a user. "
        "Only its SHA-256 is stored.",
        examples=["q8Jv3mXo2l0yq3Qw7m3vJ9Gm8w2k2e0a1Y3c5x7Z9bQ"],
    )
    expires_at: datetime = Field(
        description="Sliding expiry: each use extends it, up to the absolute session lifetime."
    )


class SignedIn(Contract):
    """A user with a fresh session (login, auto-login, reset with token)."""

    user: User
    session: Session
    remember_token: str | None = Field(
        None,
        description="Present when `remember` was asked and auto-login is enabled: send it to "
        "`auto_login` for a new session. Single use; each auto-login returns a new one.",
    )
    access_token: AccessToken = None
    access_token_expires_at: AccessTokenExpiresAt = None


class UserResult(Contract):
    user: User


class Done(Contract):
    done: Literal[True] = True


class TokenRequest(Contract):
    token: Token


class CodeSent(Contract):
    expires_at: datetime = Field(examples=["2026-01-01T12:10:00Z"])
    resend_after: datetime = Field(
        description="Earliest time another code may be sent.", examples=["2026-01-01T12:01:00Z"]
    )
