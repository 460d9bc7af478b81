"""Identity service, version 2: only the commands whose version 1 could not change shape.

`reset_password_with_token.v2` answers like `login`: a session, or, for an account that
owes a second factor, the password is reset and an mfa challenge comes back instead
(`send_mfa_code`, then `verify_mfa`). Version 1 answers a session or nothing: for such an
account it refuses with `invalid_operation` and changes nothing. Both are served.
"""

from contracts.errors import ErrorCode
from contracts.identity import v1
from contracts.topology import Command

reset_password_with_token = Command(
    v1.SERVICE,
    "reset_password_with_token",
    2,
    v1.ResetPasswordWithToken,
    v1.LoginResult,
    "Set a new password with a mailed token; a session, or an mfa challenge when the account "
    "owes a second factor.",
    errors=(
        ErrorCode.invalid_params,
        ErrorCode.password_too_common,
        ErrorCode.token_invalid,
        ErrorCode.account_disabled,
        ErrorCode.access_denied,
        ErrorCode.validation_error,
        ErrorCode.hook_unavailable,
    ),
    secret_reply=True,
    statuses=v1.RESET_TOKEN_STATUSES,
)

COMMANDS = (reset_password_with_token,)
