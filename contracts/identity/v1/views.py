"""What replies show: a user, a session, and the small results several commands share."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

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


class MonacaUser(Contract):
    """Seed 004's user object, asked for with `view: "monaca"`: `_id`, `_username`,
    `_createdAt` and `_updateAt` (Unix time, seconds), and each user-defined property at the
    top level. Property keys match `[a-zA-Z][a-zA-Z0-9]*`, so they never meet the four
    underscored names."""

    # Properties are the extra keys; the fields answer to their seed names only.
    model_config = ConfigDict(
        frozen=True,
        extra="allow",
        allow_inf_nan=False,
        validate_by_name=False,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    public_id: str = Field(
        alias="_id", description="Public id of the user.", examples=["u_8Zk3fQ2b9xW1"]
    )
    user_name: str | None = Field(
        alias="_username",
        description="The username; null for an account registered by email or phone alone.",
        examples=["ada_lovelace"],
    )
    created_at: int = Field(
        alias="_createdAt", description="Unix time, seconds.", examples=[1767268800]
    )
    update_at: int = Field(
        alias="_updateAt",
        description="Unix time, seconds (seed 004's spelling, `_updateAt`).",
        examples=[1767268800],
    )


# Which shape of the user a reply adds (seed 004's, on request); the default adds none.
View = Annotated[
    Literal["gatehouse", "monaca"],
    Field(
        description="`monaca`: the reply also carries `monaca_user`, the user as seed 004 shows "
        "it (`_id`, `_username`, `_createdAt`, `_updateAt` in Unix time, properties at the top "
        "level). `gatehouse` (the default): `user` alone.",
        examples=["monaca"],
    ),
]
MonacaUserField = Annotated[
    MonacaUser | None,
    Field(
        description="The user as seed 004 shows it; present when the request asked for "
        '`view: "monaca"`, else absent.',
        # Absent rather than null: a default reply stays what version 1 always answered.
        exclude_if=lambda value: value is None,
    ),
]


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
    monaca_user: MonacaUserField = None


class UserResult(Contract):
    user: User
    monaca_user: MonacaUserField = None


class Done(Contract):
    done: Literal[True] = True


class TokenRequest(Contract):
    token: Token


class CodeSent(Contract):
    expires_at: datetime = Field(examples=["2026-01-01T12:10:00Z"])
    resend_after: datetime = Field(
        description="Earliest time another code may be sent.", examples=["2026-01-01T12:01:00Z"]
    )
