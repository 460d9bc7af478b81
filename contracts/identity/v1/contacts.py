"""Bind and unbind an email or phone, and verify one (seed 003)."""

from pydantic import Field

from contracts.envelope import Contract
from contracts.errors import ErrorCode
from contracts.events.v1 import ContactType
from contracts.hooks.v1 import Client
from contracts.identity.v1.commands import CODE_ERRORS, SESSION_ERRORS, STEP_UP_ERRORS, command
from contracts.identity.v1.fields import Email, Phone, StepUpPassword, Token
from contracts.identity.v1.views import CodeSent, UserResult, View
from contracts.verification.v1 import ChannelName, Code, Locale


class BindContact(Contract):
    """Exactly one of email, phone, with the code sent to it for scenario `bind`. Replaces
    the user's current contact of that type."""

    token: Token
    email: Email | None = None
    phone: Phone | None = None
    code: Code
    password: StepUpPassword = None
    client: Client | None = Field(
        None, description="The end user's client, for the owner's security notice."
    )
    view: View = "gatehouse"


class UnbindContact(Contract):
    """The code is the one sent to the contact being removed, for scenario `unbind`."""

    token: Token
    contact_type: ContactType = Field(description="Which contact to remove.")
    code: Code
    password: StepUpPassword = None
    client: Client | None = Field(
        None, description="The end user's client, for the owner's security notice."
    )
    view: View = "gatehouse"


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
    password: StepUpPassword = None


class ConfirmContact(Contract):
    """The code sent by `start_contact_verification`: marks the contact verified, binding it
    (in place of the current one of its type) when it is new."""

    token: Token
    code: Code
    password: StepUpPassword = None
    client: Client | None = Field(
        None, description="The end user's client, for the owner's security notice."
    )
    view: View = "gatehouse"


bind_contact = command(
    "bind_contact",
    BindContact,
    UserResult,
    "Bind an email or phone proven by a code (scenario `bind`).",
    *SESSION_ERRORS,
    ErrorCode.contact_taken,
    *CODE_ERRORS,
    *STEP_UP_ERRORS,
)
unbind_contact = command(
    "unbind_contact",
    UnbindContact,
    UserResult,
    "Remove an email or phone, with a code sent to it (scenario `unbind`).",
    *SESSION_ERRORS,
    ErrorCode.last_login_method,
    ErrorCode.not_found,
    *CODE_ERRORS,
    *STEP_UP_ERRORS,
)
start_contact_verification = command(
    "start_contact_verification",
    StartContactVerification,
    CodeSent,
    "Send a `verify_contact` code to an email or phone of the signed-in user.",
    *SESSION_ERRORS,
    ErrorCode.contact_taken,
    ErrorCode.rate_limited,
    ErrorCode.delivery_unavailable,
    *STEP_UP_ERRORS,
)
confirm_contact = command(
    "confirm_contact",
    ConfirmContact,
    UserResult,
    "Check the `verify_contact` code; the contact becomes verified (and bound if new).",
    *SESSION_ERRORS,
    ErrorCode.not_found,
    ErrorCode.contact_taken,
    *CODE_ERRORS,
    *STEP_UP_ERRORS,
)
