"""Register and validate_registration."""

from typing import Literal

from pydantic import Field

from contracts.envelope import Contract
from contracts.errors import ErrorCode
from contracts.hooks.v1 import Client
from contracts.identity.v1.commands import CODE_ERRORS, HOOK_ERRORS, command
from contracts.identity.v1.fields import (
    AccessToken,
    AccessTokenExpiresAt,
    Email,
    Password,
    Phone,
    Properties,
    Username,
)
from contracts.identity.v1.views import MonacaUserField, Session, User, View
from contracts.verification.v1 import Code


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
    view: View = "gatehouse"


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
    monaca_user: MonacaUserField = None


class ValidateRegistration(Contract):
    """Monaca `validate`: the registration rules and availability, creating nothing."""

    username: Username | None = None
    email: Email | None = None
    phone: Phone | None = None
    password: Password | None = None
    properties: Properties | None = None


class Valid(Contract):
    valid: Literal[True] = True


register = command(
    "register",
    Register,
    Registered,
    "Create a user by username, email or phone, with a password and/or a code.",
    ErrorCode.invalid_params,
    ErrorCode.password_too_common,
    ErrorCode.username_taken,
    ErrorCode.email_taken,
    ErrorCode.phone_taken,
    ErrorCode.user_id_taken,
    *HOOK_ERRORS,
    *CODE_ERRORS,
)
validate_registration = command(
    "validate_registration",
    ValidateRegistration,
    Valid,
    "Check registration input and availability without creating anything.",
    ErrorCode.invalid_params,
    ErrorCode.password_too_common,
    ErrorCode.username_taken,
    ErrorCode.email_taken,
    ErrorCode.phone_taken,
)
