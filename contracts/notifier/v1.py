"""Notifier service, version 1: templated email and SMS for any service."""

from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field

from contracts.envelope import Contract
from contracts.errors import ErrorCode
from contracts.topology import INTERNAL, Command

SERVICE = "notifier"


class Channel(StrEnum):
    email = "email"
    sms = "sms"


class Send(Contract):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "channel": "email",
                    "to": "ada@example.com",
                    "template": "welcome",
                    "locale": "en",
                    "data": {"name": "Ada"},
                }
            ]
        }
    )

    channel: Channel
    to: str = Field(
        min_length=3, max_length=320, description="Email address or E.164 phone number."
    )
    template: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="Template name. Through `notifier.send.v1`, one of the operator's list "
        "(`GATEHOUSE_NOTIFY_CALLER_TEMPLATES`); the templates that carry a code, a reset token "
        "or a security notice only through Gatehouse's own `notifier.send_security.v1`.",
        examples=["welcome"],
    )
    locale: str = Field(
        "en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", description="BCP 47 language tag."
    )
    data: dict[str, Any] = Field(
        default_factory=dict,
        description="Template variables. `password_reset_token` also fills the legacy "
        "`%PASSWORD_RESET_TOKEN%` placeholder.",
    )


class Accepted(Contract):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"message_id": "3b9f2c1e0f7d4a8c9e6b5a4d3c2b1a09"}]}
    )

    message_id: str = Field(description="Id of the queued message; outcome events carry it.")


send = Command(
    SERVICE,
    "send",
    1,
    Send,
    Accepted,
    "Queue a templated email or SMS from a template the operator lets callers send, within "
    "the hourly budgets; the outcome arrives as notification.sent/failed.",
    errors=(
        ErrorCode.invalid_params,
        ErrorCode.template_error,
        ErrorCode.forbidden,
        ErrorCode.rate_limited,
        ErrorCode.delivery_unavailable,
    ),
)

# Gatehouse's own mail (the password reset token): any template, no budget, on the internal
# exchange, where only Gatehouse's services may publish.
send_security = Command(
    SERVICE,
    "send_security",
    1,
    Send,
    Accepted,
    "Gatehouse's services only: queue a mail or SMS with any template (a reset token mail).",
    errors=(ErrorCode.invalid_params, ErrorCode.template_error, ErrorCode.delivery_unavailable),
    exchange=INTERNAL,
)

COMMANDS = (send, send_security)
