"""Reset a password (by code or by mailed token) and change it."""

from pydantic import Field

from contracts.envelope import Contract
from contracts.errors import ErrorCode
from contracts.hooks.v1 import Client
from contracts.identity.v1.commands import (
    CODE_ERRORS,
    HOOK_ERRORS,
    RESET_TOKEN_STATUSES,
    SESSION_ERRORS,
    command,
)
from contracts.identity.v1.fields import Email, Password, Phone, Token, Username
from contracts.identity.v1.views import Done, SignedIn, View
from contracts.verification.v1 import Code


class ResetPassword(Contract):
    """Exactly one of email, phone, with the code sent to it for scenario `reset_password`.
    Revokes every session of the user."""

    email: Email | None = None
    phone: Phone | None = None
    code: Code
    new_password: Password
    client: Client | None = Field(
        None, description="The end user's client, for the owner's security notice."
    )


class ChangePassword(Contract):
    """Monaca `updatePassword`. Revokes every other session of the user."""

    token: Token
    old_password: Password
    new_password: Password
    client: Client | None = Field(
        None, description="The end user's client, for the owner's security notice."
    )


class SendPasswordResetToken(Contract):
    """Exactly one of username, email, phone. The reply is the same whether or not such a
    user exists; the token goes by mail through `notifier.send_security.v1` once the request is
    committed. At most `GATEHOUSE_RESET_MAIL_CAP_PER_IDENTIFIER` requests an hour per
    identifier (then `rate_limited`, for unknown identifiers alike) and
    `GATEHOUSE_RESET_MAIL_CAP_PER_ACCOUNT` mails an hour per account (then nothing is sent,
    and the reply does not change). Earlier tokens stay valid until used or expired. The
    mail goes only to the account's verified email; an email or phone names an account here
    only where that account verified it. Seed 004: a signed-in user gets `invalid_operation`
    (status 13) when the caller passes the session as `token`."""

    username: Username | None = None
    email: Email | None = None
    phone: Phone | None = None
    token: Token | None = Field(
        None,
        description="The caller's session token, when its user is signed in (seed 004: "
        "`sendPasswordResetToken` is error 13 for a signed-in user). A live session, whichever "
        "account it belongs to, answers `invalid_operation` (status 13, `details.signed_in: "
        "true`) and nothing is queued, counted or sent; an expired, revoked or unknown one is "
        "ignored, as if absent.",
    )
    template_name: str | None = Field(
        None,
        pattern=r"^[a-z][a-z0-9_]{0,63}$",
        description="Mail template; by default `GATEHOUSE_RESET_TOKEN_TEMPLATE` "
        "(`send_password_token`). Only a template the operator lists "
        "(`GATEHOUSE_RESET_MAIL_TEMPLATES`), else `invalid_params`.",
        examples=["send_password_token"],
    )
    email_property_name: str | None = Field(
        None,
        pattern=r"^(_username|[a-zA-Z][a-zA-Z0-9]{0,254})$",
        description="Where the address is: `email` (the bound email), `username` (or seed "
        "004's `_username`: the username is an email address), or the name of a user "
        "property. By default `GATEHOUSE_RESET_TOKEN_EMAIL_PROPERTY`. Only a field the "
        "operator lists (`GATEHOUSE_RESET_MAIL_PROPERTIES`), else `invalid_params`; the mail "
        "is sent only when the field holds the account's verified email.",
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
    client: Client | None = Field(
        None,
        description="The end user's client, passed to hooks and in the owner's security notice.",
    )
    view: View = "gatehouse"


reset_password = command(
    "reset_password",
    ResetPassword,
    Done,
    "Set a new password with a code sent to the user's email or phone.",
    ErrorCode.invalid_params,
    ErrorCode.password_too_common,
    ErrorCode.not_found,
    *CODE_ERRORS,
)
change_password = command(
    "change_password",
    ChangePassword,
    Done,
    "Change the signed-in user's password; other sessions are revoked.",
    *SESSION_ERRORS,
    ErrorCode.password_too_common,
    ErrorCode.invalid_credentials,
    ErrorCode.too_many_attempts,
)
send_password_reset_token = command(
    "send_password_reset_token",
    SendPasswordResetToken,
    Done,
    "Mail a single-use password reset token; same reply whether or not the user exists.",
    ErrorCode.invalid_params,
    ErrorCode.rate_limited,
    ErrorCode.invalid_operation,
)
reset_password_with_token = command(
    "reset_password_with_token",
    ResetPasswordWithToken,
    SignedIn,
    "Set a new password with a mailed token and sign in. An account that owes a second "
    "factor gets `invalid_operation` and nothing changes: use version 2.",
    ErrorCode.invalid_params,
    ErrorCode.password_too_common,
    ErrorCode.token_invalid,
    ErrorCode.invalid_operation,
    ErrorCode.account_disabled,
    *HOOK_ERRORS,
    statuses=RESET_TOKEN_STATUSES,
)
