"""Stable error codes: the snake_case string callers switch on, and the Monaca status."""

from enum import StrEnum

INVALID_PARAMS = -32602
LOGIN_REQUIRED = 11
INVALID_OPERATION = 13
METHOD_NOT_FOUND = -32601
INTERNAL = -32603


class ErrorCode(StrEnum):
    """Every error a Gatehouse reply can carry.

    The value is the wire `code`; `status` is the numeric Monaca code shown next to it.
    """

    invalid_params = "invalid_params"
    unknown_command = "unknown_command"
    timeout = "timeout"
    internal_error = "internal_error"
    rate_limited = "rate_limited"
    # the sender may not send this command (wrong exchange, not an admin user, a template
    # reserved to Gatehouse); nothing changed
    forbidden = "forbidden"
    # verification
    code_invalid = "code_invalid"
    code_expired = "code_expired"
    too_many_attempts = "too_many_attempts"
    delivery_unavailable = "delivery_unavailable"
    # identity
    invalid_credentials = "invalid_credentials"
    login_required = "login_required"
    invalid_operation = "invalid_operation"
    username_taken = "username_taken"
    email_taken = "email_taken"
    phone_taken = "phone_taken"
    contact_taken = "contact_taken"
    user_id_taken = "user_id_taken"
    last_login_method = "last_login_method"
    not_found = "not_found"
    token_invalid = "token_invalid"
    access_denied = "access_denied"
    validation_error = "validation_error"
    hook_unavailable = "hook_unavailable"
    mfa_required = "mfa_required"
    account_disabled = "account_disabled"
    password_reset_required = "password_reset_required"
    # what takes an account needs a recent sign-in, or the password or a code now
    reauthentication_required = "reauthentication_required"
    password_too_common = "password_too_common"
    # notifier
    template_error = "template_error"

    @property
    def status(self) -> int:
        return _STATUS.get(self, INVALID_OPERATION)


_STATUS: dict[ErrorCode, int] = {
    ErrorCode.invalid_params: INVALID_PARAMS,
    ErrorCode.login_required: LOGIN_REQUIRED,
    ErrorCode.token_invalid: LOGIN_REQUIRED,
    ErrorCode.internal_error: INTERNAL,
    ErrorCode.timeout: INTERNAL,
    ErrorCode.unknown_command: METHOD_NOT_FOUND,
    # A password rule, like the length and no-space rules (`invalid_params`): bad input.
    ErrorCode.password_too_common: INVALID_PARAMS,
}
