"""Turning results and failures into reply envelope bytes, in one place."""

import json
from typing import Any

from pydantic import BaseModel, ValidationError

from contracts.envelope import Error
from contracts.errors import ErrorCode
from gatehouse.errors import GatehouseError

_INTERNAL_MESSAGE = "internal error; the correlation id identifies it in the service logs"


def ok(result: BaseModel | None) -> bytes:
    payload = b"{}" if result is None else result.model_dump_json().encode()
    return b'{"ok":true,"result":' + payload + b"}"


def error(code: ErrorCode, message: str, *, status: int | None = None, **details: Any) -> bytes:
    status = code.status if status is None else status
    err = Error(code=code, status=status, message=message, details=details)
    return b'{"ok":false,"error":' + err.model_dump_json().encode() + b"}"


def from_exception(exc: GatehouseError, status: int | None = None) -> bytes:
    """`status`: the command's own Monaca number for this code (`Command.status_of`)."""
    return error(exc.code, exc.message, status=status, **exc.details)


def internal_error() -> bytes:
    return error(ErrorCode.internal_error, _INTERNAL_MESSAGE)


def field_path(loc: tuple[int | str, ...]) -> str:
    # A field name is caller text (an unknown key): a NUL in it must not break the reply.
    return ".".join(str(part) for part in loc).replace("\x00", "\\u0000") or "body"


def invalid_params(exc: ValidationError) -> bytes:
    """Name every offending field; never echo the input value (it may be a password)."""
    fields = [
        {"field": field_path(e["loc"]), "message": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
    return error(ErrorCode.invalid_params, summary, fields=fields)


def outcome(reply: bytes) -> str:
    """`ok`, or the error code of a reply: the label of the command counter."""
    if reply.startswith(b'{"ok":true'):
        return "ok"
    return str(json.loads(reply)["error"]["code"])


def parse(body: bytes) -> dict[str, Any]:
    """Decode a reply envelope (a JSON object; anything else is a `ValueError`)."""
    decoded = json.loads(body)
    if not isinstance(decoded, dict):
        raise ValueError("a reply envelope is a JSON object")
    return decoded
