"""Reply envelope for commands and the CloudEvents 1.0 envelope for events."""

import math
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from contracts.errors import ErrorCode

T = TypeVar("T")


class Contract(BaseModel):
    """Base of every message: frozen, and unknown fields are an error, not silently dropped.

    Nothing a message carries may be what storage cannot hold: PostgreSQL text and jsonb
    refuse the NUL character, jsonb refuses NaN and the infinities (which Python's JSON
    parser accepts). Such input is `invalid_params` naming the field, decided here, before a
    handler runs, never by a database error after it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        problem = unstorable(value)
        if problem is not None:
            raise ValueError(problem)
        return value


def unstorable(value: Any) -> str | None:
    """Why a decoded value cannot be stored, naming where inside it; None when it can."""
    found = _unstorable(value, ())
    if found is None:
        return None
    problem, where = found
    return f"{problem} (at {'.'.join(where)})" if where else problem


def _unstorable(value: Any, where: tuple[str, ...]) -> tuple[str, tuple[str, ...]] | None:
    if isinstance(value, str):
        return ("must not contain the NUL character", where) if "\x00" in value else None
    if isinstance(value, float):
        return None if math.isfinite(value) else ("must be a finite number", where)
    items: Any = ()
    if isinstance(value, dict):
        for key in value:
            if "\x00" in str(key):
                return "names must not contain the NUL character", where
        items = ((str(key)[:64], item) for key, item in value.items())
    elif isinstance(value, list | tuple):
        items = ((str(index), item) for index, item in enumerate(value))
    for step, item in items:
        if (found := _unstorable(item, (*where, step))) is not None:
            return found
    return None


class Error(Contract):
    code: ErrorCode = Field(description="Stable snake_case error code callers switch on.")
    status: int = Field(
        description="Monaca numeric code: -32602 invalid params, 11 login required, "
        "13 invalid operation."
    )
    message: str = Field(description="Human-readable, never containing secrets.")
    details: dict[str, Any] = Field(default_factory=dict)


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
