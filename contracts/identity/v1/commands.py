"""How identity v1 declares a command: its service, which replies hold a secret, which
commands only look up, and the error groups many commands share."""

from contracts.errors import INVALID_PARAMS, ErrorCode
from contracts.topology import Command, Req, Res

SERVICE = "identity"
# Reply fields that hold a secret; a command whose result has one is `secret_reply`.
SECRET_FIELDS = {
    "session",
    "remember_token",
    "access_token",
    "secret",
    "otpauth_uri",
    "recovery_codes",
}

SESSION_ERRORS = (ErrorCode.invalid_params, ErrorCode.login_required)
CODE_ERRORS = (ErrorCode.code_invalid, ErrorCode.code_expired, ErrorCode.too_many_attempts)
# What takes an account asks for a recent sign-in or the password (services/identity/reauth.py).
STEP_UP_ERRORS = (
    ErrorCode.reauthentication_required,
    ErrorCode.invalid_credentials,
    ErrorCode.too_many_attempts,
)
HOOK_ERRORS = (ErrorCode.access_denied, ErrorCode.validation_error, ErrorCode.hook_unavailable)
# Seed 004's `resetPasswordAndLogin` answers a bad token -32602 (invalid params), not 11 (login
# required): the caller asks for a new token, it does not sign in. Its other errors keep their
# usual status (docs/guides/passwords.md).
RESET_TOKEN_STATUSES = ((ErrorCode.token_invalid, INVALID_PARAMS),)


# Lookups: answering them twice changes nothing, so their replies are not recorded.
_READ_ONLY = {"validate_registration", "authenticate", "is_authenticated", "get_user",
              "get_properties", "get_property", "jwks", "list_factors"}  # fmt: skip


def command(
    name: str,
    request: type[Req],
    result: type[Res],
    summary: str,
    *errors: ErrorCode,
    statuses: tuple[tuple[ErrorCode, int], ...] = (),
) -> Command[Req, Res]:
    secret = bool(SECRET_FIELDS & result.model_fields.keys())
    return Command(
        SERVICE,
        name,
        1,
        request,
        result,
        summary,
        errors=errors,
        secret_reply=secret,
        read_only=name in _READ_ONLY,
        statuses=statuses,
    )
