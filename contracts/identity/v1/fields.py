"""The field types of identity v1 and the hard wire limits they enforce."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

# The hard limits of seed 004, here once: the service's rules (services/identity/domain.py)
# and the settings' bounds use these too.
USERNAME_MAX = 255
PASSWORD_MAX = 80
PROPERTIES_MAX_BYTES = 500 * 1024
PROPERTY_NAME_MAX = 255


Username = Annotated[
    str,
    Field(
        min_length=1,
        max_length=USERNAME_MAX,
        description="No spaces; at least `GATEHOUSE_USERNAME_MIN_LENGTH` characters; may be "
        "an email address. Compared case-insensitively.",
        examples=["ada_lovelace"],
    ),
]


Email = Annotated[
    str,
    Field(
        min_length=3,
        max_length=320,
        description="Email address; normalised (lower-cased) before storage and comparison.",
        examples=["ada@example.com"],
    ),
]


Phone = Annotated[
    str,
    Field(
        min_length=3,
        max_length=32,
        description="Phone number in E.164; normalised before storage and comparison.",
        examples=["+447911123456"],
    ),
]


Password = Annotated[
    str,
    Field(
        min_length=1,
        max_length=PASSWORD_MAX,
        description="No spaces; at least `GATEHOUSE_PASSWORD_MIN_LENGTH` characters.",
        examples=["correct-horse-battery"],
    ),
]


Token = Annotated[
    str,
    Field(
        min_length=16,
        max_length=128,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Opaque session token returned by `login`, `register` or `auto_login`.",
        examples=["q8Jv3mXo2l0yq3Qw7m3vJ9Gm8w2k2e0a1Y3c5x7Z9bQ"],
    ),
]


MfaToken = Annotated[
    str,
    Field(
        min_length=16,
        max_length=128,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The `mfa_token` of a `login` reply.",
        examples=["Zx8v3mXo2l0yq3Qw7m3vJ9Gm8w2kQ3c5x7Z9bQe0a1Y"],
    ),
]


Properties = Annotated[
    dict[str, Any],
    Field(
        description="User-defined properties. Keys match `[a-zA-Z][a-zA-Z0-9]*`; the whole "
        f"object, as compact JSON, must not exceed {PROPERTIES_MAX_BYTES // 1024} KB.",
        examples=[{"age": 21, "nickname": "Ada"}],
    ),
]


PropertyName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=PROPERTY_NAME_MAX,
        description="Matches `[a-zA-Z][a-zA-Z0-9]*`.",
        examples=["nickname"],
    ),
]


ACCESS_TOKEN_EXAMPLE = (
    "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJFZERTQSIsImtpZCI6IjBxVFQ3Nk1aIn0"
    ".eyJpc3MiOiJnYXRlaG91c2UiLCJzdWIiOiJ1XzhaazNmUTJiOXhXMSJ9.c2lnbmF0dXJl"
)
AccessToken = Annotated[
    str | None,
    Field(
        description="With `GATEHOUSE_ACCESS_TOKENS=jwt`: a JWS (JWT, `typ` `at+jwt`) that "
        "other services verify on their own against `identity.jwks.v1`, with no call per "
        "request. Claims: `iss`, `aud`, `sub` (the user's public id), `sid` (the session's "
        "public id), `iat`, `exp`, `amr`, `jti` (see `AccessTokenClaims`). Valid until `exp` "
        "even if the session is revoked earlier; `refresh` with the session token gets a new "
        "one.",
        examples=[ACCESS_TOKEN_EXAMPLE],
    ),
]
AccessTokenExpiresAt = Annotated[
    datetime | None,
    Field(description="The access token's `exp`.", examples=["2026-01-01T12:05:00Z"]),
]


StepUpPassword = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=PASSWORD_MAX,
        description="The account's password, for a session whose sign-in is older than "
        "`GATEHOUSE_REAUTH_WINDOW_S` (else `reauthentication_required`); checked whenever "
        "given, and counted like a sign-in.",
        examples=["correct-horse-battery"],
    ),
]

RecoveryCode = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z2-7]{5}-?[A-Za-z2-7]{5}$",
        description="A recovery code as shown: two groups of five base32 characters (any case, "
        "the dash optional).",
        examples=["K7QXM-2RWPA"],
    ),
]
