"""The outcome events the notifier publishes, one per message."""

from typing import Literal

from pydantic import ConfigDict, Field

from contracts.envelope import Contract
from contracts.topology import Event

NOTIFIER = "notifier"


class NotificationOutcome(Contract):
    message_id: str = Field(description="AMQP message_id of the delivery or send command.")
    channel: Literal["email", "sms"]
    template: str
    recipient: str = Field(description="Masked recipient, e.g. `a***@example.com`.")
    attempts: int


class NotificationSent(NotificationOutcome):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "message_id": "3b9f2c1e0f7d4a8c",
                    "channel": "email",
                    "template": "register",
                    "recipient": "a***@example.com",
                    "attempts": 1,
                    "outcome": "sent",
                }
            ]
        }
    )

    outcome: Literal["sent"] = "sent"


class NotificationFailed(NotificationOutcome):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "message_id": "3b9f2c1e0f7d4a8c",
                    "channel": "email",
                    "template": "register",
                    "recipient": "a***@example.com",
                    "attempts": 1,
                    "outcome": "failed",
                    "reason": "smtp 550 mailbox unavailable",
                    "permanent": True,
                }
            ]
        }
    )

    outcome: Literal["failed"] = "failed"
    reason: str = Field(description="Why, without message content.")
    permanent: bool


notification_sent = Event(
    "notification.sent", 1, NotificationSent, "A message left through its provider.", NOTIFIER
)


notification_failed = Event(
    "notification.failed", 1, NotificationFailed, "A message was given up on.", NOTIFIER
)
