"""Access tokens (opt-in, `GATEHOUSE_ACCESS_TOKENS=jwt`): their claims, `refresh` for a new
one, and the JWK Set that verifies them."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import Contract
from contracts.errors import ErrorCode
from contracts.identity.v1.commands import SESSION_ERRORS, command
from contracts.identity.v1.fields import ACCESS_TOKEN_EXAMPLE
from contracts.identity.v1.views import TokenRequest


class AccessTokenClaims(BaseModel):
    """The claims of an access token: what a verifier returns (`gatehouse.access_tokens`).

    Never an email, phone or metadata unless the operator lists them in
    `GATEHOUSE_ACCESS_TOKEN_CLAIMS`. Unknown claims are ignored, so a verifier keeps working
    when a later version adds one."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    iss: str = Field(description="`GATEHOUSE_ACCESS_TOKEN_ISSUER`.", examples=["gatehouse"])
    aud: str | list[str] = Field(
        description="`GATEHOUSE_ACCESS_TOKEN_AUDIENCE`: one value, or a list of several.",
        examples=["api"],
    )
    sub: str = Field(description="Public id of the user.", examples=["u_8Zk3fQ2b9xW1"])
    sid: str = Field(
        description="Public id of the session (never its token): the key of a deny-list fed "
        "by the `revoked_session_ids` of lifecycle events.",
        examples=["s_41QaZ0x8Lm2p"],
    )
    iat: int = Field(description="Issued at (seconds since the epoch).", examples=[1767268800])
    exp: int = Field(description="Expiry (seconds since the epoch).", examples=[1767269100])
    amr: list[Literal["pwd", "otp", "mfa", "reset"]] = Field(
        description="What the sign-in proved: `pwd` a password, `otp` a code sent to a "
        "contact, `mfa` a second factor, `reset` a mailed reset token.",
        examples=[["pwd", "mfa"]],
    )
    jti: str = Field(description="Unique id of this token.", examples=["Qx3v8mZo2l0yq3Qw"])
    username: str | None = None
    email: str | None = None
    email_verified: bool | None = None
    phone: str | None = None
    phone_verified: bool | None = None
    app_metadata: dict[str, Any] | None = None
    user_metadata: dict[str, Any] | None = None


class Refresh(TokenRequest):
    """Session token → a fresh access token; extends the session as `authenticate` does."""


class Refreshed(Contract):
    access_token: str = Field(
        description="A new access token for the session (see `SignedIn.access_token`).",
        examples=[ACCESS_TOKEN_EXAMPLE],
    )
    access_token_expires_at: datetime = Field(description="The access token's `exp`.")
    expires_at: datetime = Field(description="The session's new expiry.")


class GetJwks(Contract):
    """The public keys that verify access tokens; also served over HTTP at
    `/.well-known/jwks.json` on identity's `GATEHOUSE_HTTP_PORT`."""


class Jwk(Contract):
    """One public signing key (RFC 7517); never a private part."""

    kty: Literal["OKP", "EC"] = Field(examples=["OKP"])
    crv: Literal["Ed25519", "P-256"] = Field(examples=["Ed25519"])
    x: str = Field(examples=["11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"])
    y: str | None = Field(None, description="EC keys only.")
    kid: str = Field(
        description="Key id: the RFC 7638 thumbprint; the `kid` of the tokens it signed.",
        examples=["0qTT76MZ8wTL3Sg1Hm2sgv0sG1oVXb2EoQKJw9o8u3g"],
    )
    alg: Literal["EdDSA", "ES256"] = Field(examples=["EdDSA"])
    use: Literal["sig"] = "sig"


class Jwks(Contract):
    """A JWK Set: every key that may have signed a token still within its lifetime, and the
    next key, published before it signs anything. A verifier that meets an unknown `kid`
    fetches the set again."""

    keys: list[Jwk]


refresh = command(
    "refresh",
    Refresh,
    Refreshed,
    "Session token → a fresh access token; extends the session as `authenticate` does. "
    "`invalid_operation` while access tokens are off.",
    *SESSION_ERRORS,
    ErrorCode.invalid_operation,
    ErrorCode.account_disabled,
)
jwks = command(
    "jwks",
    GetJwks,
    Jwks,
    "The JWK Set that verifies access tokens (empty while access tokens are off).",
)
