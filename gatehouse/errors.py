"""The one exception type that becomes an error reply."""

from typing import Any

from contracts.errors import ErrorCode


class GatehouseError(Exception):
    """An expected failure with a stable code. Each service subclasses it once.

    The message goes to the caller as is, so it must never contain a secret.
    """

    code: ErrorCode = ErrorCode.invalid_operation

    def __init__(self, message: str, *, code: ErrorCode | None = None, **details: Any) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.details = details


class InvalidParams(GatehouseError):
    code = ErrorCode.invalid_params

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", fields=[{"field": field, "message": message}])
