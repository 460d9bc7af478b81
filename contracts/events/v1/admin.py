"""The audit trail of operator commands."""

from typing import Any

from pydantic import ConfigDict, Field

from contracts.envelope import Contract
from contracts.events.v1.user import IDENTITY
from contracts.topology import Event


class AdminActionTaken(Contract):
    """One operator command that succeeded (one that failed changed nothing and is only
    logged). Never a secret; `details` holds the command's other parameters."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "actor": "ops-alice",
                    "action": "disable_user",
                    "target_user_id": "u_8Zk3",
                    "reason": "spam reported by three users",
                    "details": {"until": "2026-02-01T00:00:00Z"},
                }
            ]
        }
    )

    actor: str = Field(
        description="The RabbitMQ user that sent the command (its AMQP `user_id`, which "
        "RabbitMQ checks against the connection)."
    )
    action: str = Field(description="The command's name.", examples=["disable_user"])
    target_user_id: str | None = Field(
        None, description="The user acted on; null for `list_users`."
    )
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


admin_action_taken = Event(
    "admin.action_taken", 1, AdminActionTaken, "An operator command was carried out.", IDENTITY
)
