"""Verification service, version 1: one-time codes sent to an email address or phone number."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator

from contracts.envelope import Contract
from contracts.errors import ErrorCode
from contracts.topology import INTERNAL, WORKERS, Command

SERVICE = "verification"


class Scenario(StrEnum):
    """What a code may be used for; a code sent for one scenario never passes another."""

    register = "register"
    login = "login"
    reset_password = "reset_password"
    bind = "bind"
    unbind = "unbind"
    deregister = "deregister"
    verify_contact = "verify_contact"
    two_factor = "two_factor"


# The scenarios whose code signs someone in or takes an account (sign-in, second factor,
# account recovery, removing a contact or the account): only identity redeems them
# (`redeem_code`, on the internal exchange). The public `check_code` refuses them without
# touching the code, so a caller can neither learn a code is right nor burn its attempts.
REDEEMED_BY_IDENTITY = frozenset(
    {
        Scenario.login,
        Scenario.two_factor,
        Scenario.reset_password,
        Scenario.deregister,
        Scenario.unbind,
    }
)


SendTo = Annotated[
    str,
    Field(
        min_length=3,
        max_length=320,
        description="Email address or E.164 phone number; normalised before use.",
        examples=["ada@example.com", "+447911123456"],
    ),
]
ChannelName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="`email` or `sms` for the built-in notifier, `console` in dev mode, or the "
        "name of a custom channel consumer bound to `custom.<name>`.",
        examples=["email", "sms", "twilio-sms"],
    ),
]
Locale = Annotated[
    str,
    Field(
        pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
        description="BCP 47 language tag for the message template.",
        examples=["en", "fr", "pt-BR"],
    ),
]
Code = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{6}$",
        description="The 6-digit code the user received.",
        examples=["042917"],
    ),
]


class SendCode(Contract):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "send_to": "ada@example.com",
                    "scenario": "register",
                    "channel": "email",
                    "locale": "en",
                }
            ]
        }
    )

    send_to: SendTo
    scenario: Scenario
    channel: ChannelName
    locale: Locale = "en"


class CodeSent(Contract):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"expires_at": "2026-01-01T12:10:00Z", "resend_after": "2026-01-01T12:01:00Z"}
            ]
        }
    )

    expires_at: datetime = Field(description="When the code stops being accepted.")
    resend_after: datetime = Field(description="Earliest time another code may be sent.")


class CheckCode(Contract):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"send_to": "ada@example.com", "scenario": "register", "code": "042917"}]
        }
    )

    send_to: SendTo
    scenario: Scenario
    code: Code


class CodeChecked(Contract):
    model_config = ConfigDict(json_schema_extra={"examples": [{"verified": True}]})

    verified: Literal[True] = True


class Delivery(Contract):
    """Published on the delivery exchange, routing key `email`, `sms` or `custom.<channel>`.

    The only message in Gatehouse that carries a code: consumers must not log it.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "send_to": "ada@example.com",
                    "code": "042917",
                    "scenario": "register",
                    "channel": "email",
                    "locale": "en",
                    "expires_at": "2026-01-01T12:10:00Z",
                }
            ]
        }
    )

    send_to: str = Field(description="Normalised recipient.", examples=["ada@example.com"])
    code: Code
    scenario: Scenario
    channel: str = Field(examples=["email"])
    locale: str = Field(examples=["en"])
    expires_at: datetime


class ChannelKind(StrEnum):
    """What a delivery channel reaches: email addresses, or phone numbers (`sms`)."""

    email = "email"
    sms = "sms"


# Served by the notifier (email, sms) or by verification itself in dev mode (console).
BUILT_IN_CHANNELS = frozenset({"email", "sms", "console"})


class RegisterChannel(Contract):
    """Sent by a custom channel worker when it starts and again periodically: each
    announcement renews the registration, and may change the kind."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "twilio-sms", "kind": "sms"}]}
    )

    name: ChannelName
    kind: ChannelKind | None = Field(
        default=None,
        description="The recipients the channel reaches; `send_code` refuses others at once. "
        "Without a kind, the channel is sent every recipient.",
    )

    @field_validator("name")
    @classmethod
    def _not_built_in(cls, name: str) -> str:
        if name in BUILT_IN_CHANNELS:
            raise ValueError(f"{name} is a built-in channel")
        return name


class ChannelRegistered(Contract):
    routing_key: str = Field(
        description="The binding verification publishes the channel's deliveries to.",
        examples=["custom.twilio-sms"],
    )


# The scenarios whose codes only identity sends: a second factor goes out only for a sign-in
# whose password was right (`identity.send_mfa_code.v1`), through `issue_code` on the
# internal exchange. The public `send_code` refuses them, so nobody else can spend their cap.
ISSUED_BY_IDENTITY = frozenset({Scenario.two_factor})

_SEND_ERRORS = (ErrorCode.invalid_params, ErrorCode.rate_limited, ErrorCode.delivery_unavailable)
send_code = Command(
    SERVICE,
    "send_code",
    1,
    SendCode,
    CodeSent,
    "Generate a code for (send_to, scenario), void older ones, and hand it to the channel. "
    "A recipient the channel cannot reach (an email address for an SMS channel, or the "
    "reverse) is `invalid_params` on `send_to`, and no code is made. `two_factor` codes are "
    "sent by identity only: `forbidden` here.",
    errors=(*_SEND_ERRORS, ErrorCode.forbidden),
)
issue_code = Command(
    SERVICE,
    "issue_code",
    1,
    SendCode,
    CodeSent,
    "Identity's own send of a code, any scenario (the second factor of a sign-in): as "
    "`send_code`. On the internal exchange: only Gatehouse's services send it.",
    errors=(*_SEND_ERRORS, ErrorCode.forbidden),
    exchange=INTERNAL,
)
_CHECK_ERRORS = (
    ErrorCode.invalid_params,
    ErrorCode.code_invalid,
    ErrorCode.code_expired,
    ErrorCode.too_many_attempts,
)
check_code = Command(
    SERVICE,
    "check_code",
    1,
    CheckCode,
    CodeChecked,
    "Consume a code: succeeds once, for the scenario and recipient it was sent for. The "
    "scenarios identity redeems itself (login, two_factor, reset_password, deregister, "
    "unbind) are `forbidden` here, and the code is left untouched.",
    errors=(*_CHECK_ERRORS, ErrorCode.forbidden),
)
redeem_code = Command(
    SERVICE,
    "redeem_code",
    1,
    CheckCode,
    CodeChecked,
    "Identity's own check of a code, any scenario: succeeds once, for the scenario and "
    "recipient it was sent for. On the internal exchange: only Gatehouse's services send it.",
    errors=(*_CHECK_ERRORS, ErrorCode.forbidden),
    exchange=INTERNAL,
)

register_channel = Command(
    SERVICE,
    "register_channel",
    1,
    RegisterChannel,
    ChannelRegistered,
    "Announce a custom delivery channel and the kind of recipient it reaches; verification "
    "then declares the channel's queue (and its `.dlq`) and binds it to `custom.<name>`. Only "
    "channel workers send it, on the workers exchange; a new name beyond "
    "`GATEHOUSE_CHANNEL_MAX` is `invalid_operation`.",
    errors=(ErrorCode.invalid_params, ErrorCode.forbidden, ErrorCode.invalid_operation),
    exchange=WORKERS,
)

COMMANDS = (send_code, issue_code, check_code, redeem_code, register_channel)
