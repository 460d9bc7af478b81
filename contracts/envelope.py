"""Reply envelope for commands and the CloudEvents 1.0 envelope for events."""

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from contracts.errors import ErrorCode

T = TypeVar("T")


class Contract(BaseModel):
    """Base of every message: frozen, and unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Error(Contract):
    code: ErrorCode = Field(description="Stable snake_case error code callers switch on.")
    status: int = Field(
        description="Monaca numeric code: -32602 invalid params, 11 login required, "
        "13 invalid operation."
    )
    message: str = Field(description="Human-readable, never containing secrets.")
    details: dict[str, Any] = Field(default_factory=dict)


class Reply(Contract, Generic[T]):
    """Every command's answer: `{"ok": true, "result": ...}` or `{"ok": false, "error": ...}`."""

    ok: bool
    result: T | None = None
    error: Error | None = None


class ErrorReply(Contract):
    ok: Literal[False] = False
    error: Error


class CloudEvent(Contract, Generic[T]):
    """CloudEvents 1.0 structured-mode JSON."""

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(
        description="Unique event id; also the AMQP message_id. Consumers dedupe by it."
    )
    source: str = Field(description="The emitting service, e.g. `gatehouse/identity`.")
    type: str = Field(description="Routing key of the event, e.g. `user.registered.v1`.")
    time: datetime
    subject: str | None = Field(
        default=None, description="Public id of the user the event is about."
    )
    datacontenttype: Literal["application/json"] = "application/json"
    data: T
