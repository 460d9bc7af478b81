"""Second factors a user manages: an authenticator app (TOTP, RFC 6238), enrolled, confirmed
with a first code, and removed. Its codes are then taken by `verify_mfa` with `factor: totp`.
Recovery codes, shown when the first one is confirmed and by `regenerate_recovery_codes`, are
taken by `verify_mfa` with `factor: recovery_code`, each once."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from contracts.envelope import Contract
from contracts.errors import ErrorCode
from contracts.hooks.v1 import Client
from contracts.identity.v1.commands import CODE_ERRORS, SESSION_ERRORS, STEP_UP_ERRORS, command
from contracts.identity.v1.fields import StepUpPassword, Token
from contracts.identity.v1.views import Done, TokenRequest
from contracts.verification.v1 import Code

ClientField = Field(None, description="The end user's client, for the owner's security notice.")


class EnrollTotp(Contract):
    """Start adding an authenticator app: a new secret, pending until `confirm_totp`. A
    pending one is replaced; a confirmed one must be removed first."""

    token: Token
    password: StepUpPassword = None


class TotpEnrolment(Contract):
    """Shown once, to be scanned: the secret is never returned again."""

    secret: str = Field(
        description="The shared secret, base32, for typing into the app by hand.",
        examples=["JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"],
    )
    otpauth_uri: str = Field(
        description="The `otpauth://totp/` URI (issuer, account name, secret) to show as a QR "
        "code.",
        examples=[
            "otpauth://totp/Gatehouse:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
            "&issuer=Gatehouse"
        ],
    )


class ConfirmTotp(Contract):
    """A first code from the app: from then on the authenticator counts as a second factor."""

    token: Token
    code: Code
    client: Client | None = ClientField


RecoveryCodes = Field(
    description="Ten single-use codes, each a way in when the authenticator app is lost: "
    "shown this once, never again (only `regenerate_recovery_codes` makes new ones).",
    examples=[["K7QXM-2RWPA", "D4ZLN-Q6TBE"]],
)


class TotpConfirmed(Done):
    """Done; the account's recovery codes when this is its first strong factor."""

    recovery_codes: list[str] | None = RecoveryCodes


class RegenerateRecoveryCodes(Contract):
    """New recovery codes: every earlier one stops working at once."""

    token: Token
    password: StepUpPassword = None


class NewRecoveryCodes(Contract):
    recovery_codes: list[str] = RecoveryCodes


class ListFactors(TokenRequest):
    """The signed-in user's second factors, for a "security" page: never a secret."""


class FactorView(Contract):
    kind: Literal["totp"] = Field(description="`totp`: an authenticator app.", examples=["totp"])
    created_at: datetime = Field(
        description="When it was enrolled.", examples=["2026-01-01T12:00:00Z"]
    )
    confirmed_at: datetime | None = Field(
        description="When a first code confirmed it; null while pending (it does not count).",
        examples=["2026-01-01T12:01:00Z"],
    )


class FactorList(Contract):
    factors: list[FactorView]
    recovery_codes_remaining: int = Field(
        ge=0, description="Recovery codes not used yet.", examples=[10]
    )


class RemoveTotp(Contract):
    token: Token
    password: StepUpPassword = None
    client: Client | None = ClientField


enroll_totp = command(
    "enroll_totp",
    EnrollTotp,
    TotpEnrolment,
    "Start adding an authenticator app (TOTP); needs a recent sign-in or the password.",
    *SESSION_ERRORS,
    ErrorCode.invalid_operation,
    *STEP_UP_ERRORS,
)
confirm_totp = command(
    "confirm_totp",
    ConfirmTotp,
    TotpConfirmed,
    "Confirm the pending authenticator app with a first code.",
    *SESSION_ERRORS,
    ErrorCode.invalid_operation,
    *CODE_ERRORS,
)
remove_totp = command(
    "remove_totp",
    RemoveTotp,
    Done,
    "Remove the authenticator app; needs a recent sign-in or the password.",
    *SESSION_ERRORS,
    ErrorCode.invalid_operation,
    *STEP_UP_ERRORS,
)
regenerate_recovery_codes = command(
    "regenerate_recovery_codes",
    RegenerateRecoveryCodes,
    NewRecoveryCodes,
    "Replace the recovery codes with new ones; needs a recent sign-in or the password.",
    *SESSION_ERRORS,
    ErrorCode.invalid_operation,
    *STEP_UP_ERRORS,
)
list_factors = command(
    "list_factors",
    ListFactors,
    FactorList,
    "The signed-in user's second factors and how many recovery codes are left.",
    *SESSION_ERRORS,
)
