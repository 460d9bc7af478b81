"""Sign in and out, sessions, auto-login, and the second factor of a two-factor sign-in."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from contracts.envelope import Contract
from contracts.errors import ErrorCode
from contracts.events.v1 import ContactType
from contracts.hooks.v1 import Client
from contracts.identity.v1.commands import (
    CODE_ERRORS,
    HOOK_ERRORS,
    SESSION_ERRORS,
    STEP_UP_ERRORS,
    command,
)
from contracts.identity.v1.fields import (
    AccessToken,
    AccessTokenExpiresAt,
    Email,
    MfaToken,
    Password,
    Phone,
    RecoveryCode,
    StepUpPassword,
    Token,
    Username,
)
from contracts.identity.v1.views import (
    CodeSent,
    Done,
    MonacaUserField,
    Session,
    SignedIn,
    TokenRequest,
    User,
    UserResult,
    View,
)
from contracts.verification.v1 import ChannelName, Code, Locale


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
    view: View = "gatehouse"


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
    totp: bool | None = Field(
        None,
        description="With `mfa_required`: true when the account has an authenticator app, "
        "whose code `verify_mfa` takes with `factor: totp`.",
        examples=[True],
    )
    access_token: AccessToken = None
    access_token_expires_at: AccessTokenExpiresAt = None
    monaca_user: MonacaUserField = None


class SetMfa(Contract):
    """Ask for (or stop asking for) a code at each password login of this account; needs a
    verified contact, and `GATEHOUSE_MFA` other than `off`."""

    token: Token
    enabled: bool = Field(examples=[True])
    password: StepUpPassword = None
    client: Client | None = Field(
        None, description="The end user's client, for the owner's security notice."
    )
    view: View = "gatehouse"


class SendMfaCode(Contract):
    mfa_token: MfaToken
    contact_id: Literal["email", "phone"] = Field(examples=["phone"])
    channel: ChannelName | None = Field(
        None, description="Delivery channel; by default `email` for an email, `sms` for a phone."
    )
    locale: Locale = "en"


class VerifyMfa(Contract):
    mfa_token: MfaToken
    code: Code | None = Field(
        None, description="With `factor` `code` or `totp` (required then).", examples=["042917"]
    )
    factor: Literal["code", "totp", "recovery_code"] = Field(
        "code",
        description="`code`: the code `send_mfa_code` sent; `totp`: a code of the account's "
        "authenticator app; `recovery_code`: one of the account's recovery codes, in "
        "`recovery_code`.",
        examples=["totp"],
    )
    recovery_code: RecoveryCode | None = Field(
        None, description="With `factor: recovery_code` (required then); used up once it signs in."
    )
    view: View = "gatehouse"


class Logout(TokenRequest):
    """Revokes the session and the remember token issued with it (auto-login disabled)."""


class Authenticate(TokenRequest):
    """Token → user; what other services call. Extends the session's sliding expiry."""

    view: View = "gatehouse"


class Authenticated(Contract):
    user: User
    expires_at: datetime = Field(description="The session's new expiry.")
    monaca_user: MonacaUserField = None


class IsAuthenticated(Contract):
    token: str = Field(
        max_length=128,
        description="Any string; never an error for a bad one.",
        examples=["q8Jv3mXo2l0yq3Qw7m3vJ9Gm8w2k2e0a1Y3c5x7Z9bQ"],
    )


class AuthenticationState(Contract):
    authenticated: bool


class AutoLogin(Contract):
    """The remember token is single use; each one belongs to a chain that ends
    `GATEHOUSE_REMEMBER_CHAIN_TTL_S` after the sign-in that started it. Presenting a used one
    revokes its chain and every session the chain issued, and the owner is told."""

    remember_token: Token
    client: Client | None = Field(
        None,
        description="The end user's client, passed to hooks and, if the token was used "
        "already, in the owner's security notice.",
    )
    view: View = "gatehouse"


class GetUser(TokenRequest):
    """The "refresh login user data" action."""

    view: View = "gatehouse"


login = command(
    "login",
    Login,
    LoginResult,
    "Sign in with username/email/phone and password, or email/phone and code.",
    ErrorCode.invalid_params,
    ErrorCode.invalid_credentials,
    ErrorCode.rate_limited,
    ErrorCode.account_disabled,
    ErrorCode.password_reset_required,
    *HOOK_ERRORS,
    *CODE_ERRORS,
)
logout = command(
    "logout", Logout, Done, "Revoke the session and its remember token.", *SESSION_ERRORS
)
authenticate = command(
    "authenticate", Authenticate, Authenticated, "Session token → user.", *SESSION_ERRORS
)
is_authenticated = command(
    "is_authenticated",
    IsAuthenticated,
    AuthenticationState,
    "Whether a session token is valid; never an error for a bad token.",
)
auto_login = command(
    "auto_login",
    AutoLogin,
    SignedIn,
    "Remember token → new session and a new remember token. A token from a sign-in that "
    "proved no second factor where one is now owed is `login_required`.",
    ErrorCode.invalid_params,
    ErrorCode.login_required,
    ErrorCode.invalid_operation,
    ErrorCode.account_disabled,
    ErrorCode.password_reset_required,
    *HOOK_ERRORS,
)
get_user = command("get_user", GetUser, UserResult, "The signed-in user.", *SESSION_ERRORS)
set_mfa = command(
    "set_mfa",
    SetMfa,
    UserResult,
    "Turn two-factor login on or off for the signed-in user; off needs a recent sign-in or "
    "the password.",
    *SESSION_ERRORS,
    ErrorCode.invalid_operation,
    *STEP_UP_ERRORS,
)
send_mfa_code = command(
    "send_mfa_code",
    SendMfaCode,
    CodeSent,
    "Send a `two_factor` code to a verified contact of the login's user.",
    ErrorCode.invalid_params,
    ErrorCode.token_invalid,
    ErrorCode.rate_limited,
    ErrorCode.delivery_unavailable,
)
verify_mfa = command(
    "verify_mfa",
    VerifyMfa,
    SignedIn,
    "Check the two-factor code and issue the session.",
    ErrorCode.invalid_params,
    ErrorCode.token_invalid,
    ErrorCode.invalid_operation,
    ErrorCode.account_disabled,
    ErrorCode.password_reset_required,
    *HOOK_ERRORS,
    *CODE_ERRORS,
)
