"""Identity service, version 1: accounts, sessions, contacts, passwords and properties.

Wire names other services rely on: `register {username?, email?, phone?, password?, code?,
properties?, login?}`, `login {username?|email?|phone?, password?|code?, remember?}`, a
session in a reply is `{"session": {"token", "expires_at"}, "remember_token"?}`, and every
command that needs a signed-in user takes `{"token": ...}`.

Length limits here are the hard wire limits (oversized values are `invalid_params` before any
work is done); the configurable rules (minimum lengths, no spaces, property keys and size)
are checked by the service and reported the same way, naming the field.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.envelope import Contract
from contracts.errors import ErrorCode
from contracts.events.v1 import ContactType
from contracts.hooks.v1 import Client
from contracts.topology import Command
from contracts.verification.v1 import ChannelName, Code, Locale

SERVICE = "identity"

USERNAME_MAX = 255
PASSWORD_MAX = 80
PROPERTIES_MAX_BYTES = 500 * 1024
# Reply fields that hold a secret; a command whose result has one is `secret_reply`.
SECRET_FIELDS = {"session", "remember_token", "access_token"}

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
Properties = Annotated[
    dict[str, Any],
    Field(
        description="User-defined properties. Keys match `[a-zA-Z][a-zA-Z0-9]*`; the whole "
        "object, as compact JSON, must not exceed 500 KB.",
        examples=[{"age": 21, "nickname": "Ada"}],
    ),
]


# --- shared views --------------------------------------------------------------------------


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


class AccessTokenClaims(BaseModel):
    """The claims of an access token: what a verifier returns (`services.access_tokens`).

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


# --- registration --------------------------------------------------------------------------


class Register(Contract):
    """At least one of username, email, phone; a password, a code (scenario `register`, for
    the email if given, else the phone), or both. A contact proven by a code is verified."""

    username: Username | None = None
    email: Email | None = None
    phone: Phone | None = None
    password: Password | None = None
    code: Code | None = None
    properties: Properties | None = None
    login: bool = Field(False, description="Also sign the new user in and return a session.")
    remember: bool = Field(False, description="With `login`: also return a remember token.")
    client: Client | None = Field(
        None, description="The end user's client, passed to hooks (client_ip, user_agent)."
    )


class Registered(Contract):
    user: User
    session: Session | None = Field(
        None, description="Present when `login` was true and no second factor is owed."
    )
    remember_token: str | None = None
    mfa_required: bool = Field(
        False,
        description="`login` was true but two-factor login is required and a password alone "
        "proves one factor: no session. Register with a code to be signed in at once.",
    )
    access_token: AccessToken = None
    access_token_expires_at: AccessTokenExpiresAt = None


class ValidateRegistration(Contract):
    """Monaca `validate`: the registration rules and availability, creating nothing."""

    username: Username | None = None
    email: Email | None = None
    phone: Phone | None = None
    password: Password | None = None
    properties: Properties | None = None


class Valid(Contract):
    valid: Literal[True] = True


# --- sessions ------------------------------------------------------------------------------


class Login(Contract):
    """Exactly one of username, email, phone; exactly one of password, code (scenario
    `login`; email or phone only)."""

    username: Username | None = None
    email: Email | None = None
    phone: Phone | None = None
    password: Password | None = None
    code: Code | None = None
    remember: bool = Field(False, description="Also return a remember token for `auto_login`.")
    client: Client | None = Field(
        None, description="The end user's client, passed to hooks (client_ip, user_agent)."
    )


class MfaContact(Contract):
    id: Literal["email", "phone"] = Field(description="Send as `contact_id`.", examples=["email"])
    type: ContactType = Field(examples=["email"])
    masked: str = Field(examples=["a***@example.com"])


class LoginResult(Contract):
    """A session, or, when two-factor login is due, `mfa_required` with an `mfa_token` and
    the verified contacts a code may be sent to (`send_mfa_code`, then `verify_mfa`)."""

    user: User | None = None
    session: Session | None = None
    remember_token: str | None = None
    mfa_required: bool = Field(False, examples=[False])
    mfa_token: str | None = Field(
        None, description="Short-lived, single use.", examples=["Zx8v3mXo2l0yq3Qw7m3vJ9Gm8w2k"]
    )
    contacts: list[MfaContact] | None = None
    access_token: AccessToken = None
    access_token_expires_at: AccessTokenExpiresAt = None


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


class SetMfa(Contract):
    """Ask for (or stop asking for) a code at each password login of this account; needs a
    verified contact, and `GATEHOUSE_MFA` other than `off`."""

    token: Token
    enabled: bool = Field(examples=[True])


class SendMfaCode(Contract):
    mfa_token: MfaToken
    contact_id: Literal["email", "phone"] = Field(examples=["phone"])
    channel: ChannelName | None = Field(
        None, description="Delivery channel; by default `email` for an email, `sms` for a phone."
    )
    locale: Locale = "en"


class CodeSent(Contract):
    expires_at: datetime = Field(examples=["2026-01-01T12:10:00Z"])
    resend_after: datetime = Field(
        description="Earliest time another code may be sent.", examples=["2026-01-01T12:01:00Z"]
    )


class VerifyMfa(Contract):
    mfa_token: MfaToken
    code: Code


class StartContactVerification(Contract):
    """Send a `verify_contact` code to an email or phone (the bound one or a new one).
    Starting again with another contact voids the earlier one ("change number")."""

    token: Token
    type: ContactType = Field(examples=["phone"])
    contact: str = Field(min_length=3, max_length=320, examples=["+447911123456"])
    channel: ChannelName | None = Field(
        None, description="Delivery channel; by default `email` for an email, `sms` for a phone."
    )
    locale: Locale = "en"


class ConfirmContact(Contract):
    """The code sent by `start_contact_verification`: marks the contact verified, binding it
    (in place of the current one of its type) when it is new."""

    token: Token
    code: Code


class Logout(TokenRequest):
    """Revokes the session and the remember token issued with it (auto-login disabled)."""


class Authenticate(TokenRequest):
    """Token → user; what other services call. Extends the session's sliding expiry."""


class Authenticated(Contract):
    user: User
    expires_at: datetime = Field(description="The session's new expiry.")


class IsAuthenticated(Contract):
    token: str = Field(
        max_length=128,
        description="Any string; never an error for a bad one.",
        examples=["q8Jv3mXo2l0yq3Qw7m3vJ9Gm8w2k2e0a1Y3c5x7Z9bQ"],
    )


class AuthenticationState(Contract):
    authenticated: bool


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


class AutoLogin(Contract):
    remember_token: Token


class GetUser(TokenRequest):
    """The "refresh login user data" action."""


# --- contacts ------------------------------------------------------------------------------


class BindContact(Contract):
    """Exactly one of email, phone, with the code sent to it for scenario `bind`. Replaces
    the user's current contact of that type."""

    token: Token
    email: Email | None = None
    phone: Phone | None = None
    code: Code


class UnbindContact(Contract):
    """The code is the one sent to the contact being removed, for scenario `unbind`."""

    token: Token
    contact_type: ContactType = Field(description="Which contact to remove.")
    code: Code


# --- passwords -----------------------------------------------------------------------------


class ResetPassword(Contract):
    """Exactly one of email, phone, with the code sent to it for scenario `reset_password`.
    Revokes every session of the user."""

    email: Email | None = None
    phone: Phone | None = None
    code: Code
    new_password: Password


class ChangePassword(Contract):
    """Monaca `updatePassword`. Revokes every other session of the user."""

    token: Token
    old_password: Password
    new_password: Password


class SendPasswordResetToken(Contract):
    """Exactly one of username, email, phone. The reply is the same whether or not such a
    user exists; the token goes by mail through `notifier.send.v1` once the request is
    committed. At most `GATEHOUSE_RESET_MAIL_CAP_PER_IDENTIFIER` requests an hour per
    identifier (then `rate_limited`, for unknown identifiers alike) and
    `GATEHOUSE_RESET_MAIL_CAP_PER_ACCOUNT` mails an hour per account (then nothing is sent,
    and the reply does not change). Earlier tokens stay valid until used or expired."""

    username: Username | None = None
    email: Email | None = None
    phone: Phone | None = None
    template_name: str | None = Field(
        None,
        pattern=r"^[a-z][a-z0-9_]{0,63}$",
        description="Mail template; by default `GATEHOUSE_RESET_TOKEN_TEMPLATE` "
        "(`send_password_token`).",
        examples=["send_password_token"],
    )
    email_property_name: str | None = Field(
        None,
        pattern=r"^(_username|[a-zA-Z][a-zA-Z0-9]{0,254})$",
        description="Where the address is: `email` (the bound email), `username` (or seed "
        "004's `_username`: the username is an email address), or the name of a user "
        "property. By default `GATEHOUSE_RESET_TOKEN_EMAIL_PROPERTY`.",
        examples=["username"],
    )


class ResetPasswordWithToken(Contract):
    """Monaca `resetPasswordAndLogin`: the same identifier as for the token, the emailed
    token, the new password. Single use; revokes every session, then signs the user in."""

    username: Username | None = None
    email: Email | None = None
    phone: Phone | None = None
    token: Token
    new_password: Password


# --- account -------------------------------------------------------------------------------


class Deregister(Contract):
    """Exactly one of password, code (scenario `deregister`, sent to `contact_type`, by
    default the email if bound, else the phone). Deletes all of the user's data."""

    token: Token
    password: Password | None = None
    code: Code | None = None
    contact_type: ContactType | None = None


class GetProperties(Contract):
    token: Token
    names: list[Annotated[str, Field(min_length=1, max_length=255)]] | None = Field(
        None, max_length=1000, description="Only these properties; all when omitted."
    )


class PropertiesResult(Contract):
    properties: dict[str, Any]


PropertyName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        description="Matches `[a-zA-Z][a-zA-Z0-9]*`.",
        examples=["nickname"],
    ),
]


class GetProperty(Contract):
    """Monaca `getProperty`: one property of the signed-in user."""

    token: Token
    name: PropertyName


class PropertyValue(Contract):
    value: Any = Field(None, description="`null` when the user has no such property.")


class SaveProperty(Contract):
    """Monaca `saveProperty`: set one property (`null` removes it). The result holds every
    property after the update, as `save_properties` does."""

    token: Token
    name: PropertyName
    value: Any = Field(examples=["John"])


class SaveProperties(Contract):
    """Partial update: the given keys are set, a `null` value removes its key, other keys
    stay. The result holds every property after the update."""

    token: Token
    properties: Properties


# --- commands ------------------------------------------------------------------------------

_SESSION_ERRORS = (ErrorCode.invalid_params, ErrorCode.login_required)
_CODE_ERRORS = (ErrorCode.code_invalid, ErrorCode.code_expired, ErrorCode.too_many_attempts)
_HOOK_ERRORS = (ErrorCode.access_denied, ErrorCode.validation_error, ErrorCode.hook_unavailable)


# Lookups: answering them twice changes nothing, so their replies are not recorded.
_READ_ONLY = {"validate_registration", "authenticate", "is_authenticated", "get_user",
              "get_properties", "get_property", "jwks"}  # fmt: skip


def _command(name: str, request: type[Contract], result: type[Contract], summary: str,
             *errors: ErrorCode) -> Command:  # fmt: skip
    secret = bool(SECRET_FIELDS & result.model_fields.keys())
    return Command(
        SERVICE,
        name,
        1,
        request,
        result,
        summary,
        errors=errors,
        secret_reply=secret,
        read_only=name in _READ_ONLY,
    )


register = _command(
    "register",
    Register,
    Registered,
    "Create a user by username, email or phone, with a password and/or a code.",
    ErrorCode.invalid_params,
    ErrorCode.username_taken,
    ErrorCode.email_taken,
    ErrorCode.phone_taken,
    ErrorCode.user_id_taken,
    *_HOOK_ERRORS,
    *_CODE_ERRORS,
)
validate_registration = _command(
    "validate_registration",
    ValidateRegistration,
    Valid,
    "Check registration input and availability without creating anything.",
    ErrorCode.invalid_params,
    ErrorCode.username_taken,
    ErrorCode.email_taken,
    ErrorCode.phone_taken,
)
login = _command(
    "login",
    Login,
    LoginResult,
    "Sign in with username/email/phone and password, or email/phone and code.",
    ErrorCode.invalid_params,
    ErrorCode.invalid_credentials,
    *_HOOK_ERRORS,
    *_CODE_ERRORS,
)
logout = _command(
    "logout", Logout, Done, "Revoke the session and its remember token.", *_SESSION_ERRORS
)
authenticate = _command(
    "authenticate", Authenticate, Authenticated, "Session token → user.", *_SESSION_ERRORS
)
is_authenticated = _command(
    "is_authenticated",
    IsAuthenticated,
    AuthenticationState,
    "Whether a session token is valid; never an error for a bad token.",
)
auto_login = _command(
    "auto_login",
    AutoLogin,
    SignedIn,
    "Remember token → new session and a new remember token. A token from a sign-in that "
    "proved no second factor where one is now owed is `login_required`.",
    ErrorCode.invalid_params,
    ErrorCode.login_required,
    ErrorCode.invalid_operation,
    *_HOOK_ERRORS,
)
get_user = _command("get_user", GetUser, UserResult, "The signed-in user.", *_SESSION_ERRORS)
refresh = _command(
    "refresh",
    Refresh,
    Refreshed,
    "Session token → a fresh access token; extends the session as `authenticate` does. "
    "`invalid_operation` while access tokens are off.",
    *_SESSION_ERRORS,
    ErrorCode.invalid_operation,
)
jwks = _command(
    "jwks",
    GetJwks,
    Jwks,
    "The JWK Set that verifies access tokens (empty while access tokens are off).",
)
bind_contact = _command(
    "bind_contact",
    BindContact,
    UserResult,
    "Bind an email or phone proven by a code (scenario `bind`).",
    *_SESSION_ERRORS,
    ErrorCode.contact_taken,
    *_CODE_ERRORS,
)
unbind_contact = _command(
    "unbind_contact",
    UnbindContact,
    UserResult,
    "Remove an email or phone, with a code sent to it (scenario `unbind`).",
    *_SESSION_ERRORS,
    ErrorCode.last_login_method,
    ErrorCode.not_found,
    *_CODE_ERRORS,
)
reset_password = _command(
    "reset_password",
    ResetPassword,
    Done,
    "Set a new password with a code sent to the user's email or phone.",
    ErrorCode.invalid_params,
    ErrorCode.not_found,
    *_CODE_ERRORS,
)
change_password = _command(
    "change_password",
    ChangePassword,
    Done,
    "Change the signed-in user's password; other sessions are revoked.",
    *_SESSION_ERRORS,
    ErrorCode.invalid_credentials,
)
send_password_reset_token = _command(
    "send_password_reset_token",
    SendPasswordResetToken,
    Done,
    "Mail a single-use password reset token; same reply whether or not the user exists.",
    ErrorCode.invalid_params,
    ErrorCode.rate_limited,
)
reset_password_with_token = _command(
    "reset_password_with_token",
    ResetPasswordWithToken,
    SignedIn,
    "Set a new password with a mailed token and sign in. An account that owes a second "
    "factor gets `invalid_operation` and nothing changes: use version 2.",
    ErrorCode.invalid_params,
    ErrorCode.token_invalid,
    ErrorCode.invalid_operation,
    *_HOOK_ERRORS,
)
deregister = _command(
    "deregister",
    Deregister,
    Done,
    "Delete the signed-in user and all their data, with the password or a code.",
    *_SESSION_ERRORS,
    ErrorCode.invalid_credentials,
    *_CODE_ERRORS,
)
get_properties = _command(
    "get_properties",
    GetProperties,
    PropertiesResult,
    "The signed-in user's properties.",
    *_SESSION_ERRORS,
)
save_properties = _command(
    "save_properties",
    SaveProperties,
    PropertiesResult,
    "Set or remove some of the signed-in user's properties.",
    *_SESSION_ERRORS,
)
get_property = _command(
    "get_property",
    GetProperty,
    PropertyValue,
    "One property of the signed-in user.",
    *_SESSION_ERRORS,
)
save_property = _command(
    "save_property",
    SaveProperty,
    PropertiesResult,
    "Set or remove one property of the signed-in user.",
    *_SESSION_ERRORS,
)
set_mfa = _command(
    "set_mfa",
    SetMfa,
    UserResult,
    "Turn two-factor login on or off for the signed-in user.",
    *_SESSION_ERRORS,
    ErrorCode.invalid_operation,
)
send_mfa_code = _command(
    "send_mfa_code",
    SendMfaCode,
    CodeSent,
    "Send a `two_factor` code to a verified contact of the login's user.",
    ErrorCode.invalid_params,
    ErrorCode.token_invalid,
    ErrorCode.rate_limited,
    ErrorCode.delivery_unavailable,
)
verify_mfa = _command(
    "verify_mfa",
    VerifyMfa,
    SignedIn,
    "Check the two-factor code and issue the session.",
    ErrorCode.invalid_params,
    ErrorCode.token_invalid,
    ErrorCode.invalid_operation,
    *_HOOK_ERRORS,
    *_CODE_ERRORS,
)
start_contact_verification = _command(
    "start_contact_verification",
    StartContactVerification,
    CodeSent,
    "Send a `verify_contact` code to an email or phone of the signed-in user.",
    *_SESSION_ERRORS,
    ErrorCode.contact_taken,
    ErrorCode.rate_limited,
    ErrorCode.delivery_unavailable,
)
confirm_contact = _command(
    "confirm_contact",
    ConfirmContact,
    UserResult,
    "Check the `verify_contact` code; the contact becomes verified (and bound if new).",
    *_SESSION_ERRORS,
    ErrorCode.not_found,
    ErrorCode.contact_taken,
    *_CODE_ERRORS,
)

COMMANDS = (
    register,
    validate_registration,
    login,
    logout,
    authenticate,
    is_authenticated,
    auto_login,
    get_user,
    refresh,
    jwks,
    bind_contact,
    unbind_contact,
    reset_password,
    change_password,
    send_password_reset_token,
    reset_password_with_token,
    deregister,
    get_properties,
    save_properties,
    get_property,
    save_property,
    set_mfa,
    send_mfa_code,
    verify_mfa,
    start_contact_verification,
    confirm_contact,
)
