"""Verification rules: code generation, digests, rate limits and check outcomes. No I/O."""

import hashlib
import hmac
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from contracts.errors import ErrorCode
from contracts.verification.v1 import Scenario
from gatehouse.errors import GatehouseError

CODE_DIGITS = 6


class VerificationError(GatehouseError):
    code = ErrorCode.code_invalid


class CodeClass(StrEnum):
    """Scenarios whose sends share one hourly cap per recipient.

    `second_factor`: two-factor codes, which only identity sends, for a sign-in whose password
    was right. `sign_in`: the other codes an owner needs to get into their own account (code
    login, a reset). `account`: the codes that attach a contact to an account or confirm a
    change to it (registration, bind, verify-contact, unbind, deregister), which anybody can
    ask for with somebody else's address. Each class has its own cap, so a flood of one (ten
    `register` sends for a victim's address, or as many `login` sends) never uses up another:
    nobody who lacks the password can keep an owner's second factor from arriving.
    """

    second_factor = "second_factor"
    sign_in = "sign_in"
    account = "account"


SCENARIO_CLASS: Mapping[Scenario, CodeClass] = {
    Scenario.login: CodeClass.sign_in,
    Scenario.two_factor: CodeClass.second_factor,
    Scenario.reset_password: CodeClass.sign_in,
    Scenario.register: CodeClass.account,
    Scenario.bind: CodeClass.account,
    Scenario.verify_contact: CodeClass.account,
    Scenario.unbind: CodeClass.account,
    Scenario.deregister: CodeClass.account,
}


def code_class(scenario: Scenario) -> CodeClass:
    return SCENARIO_CLASS[scenario]


def class_scenarios(code_class: CodeClass) -> list[str]:
    """The scenarios whose sends count toward `code_class`'s cap (as stored: their values)."""
    return sorted(s.value for s, c in SCENARIO_CLASS.items() if c is code_class)


@dataclass(frozen=True)
class Policy:
    ttl: timedelta
    max_attempts: int
    resend_cooldown: timedelta
    hourly_caps: Mapping[CodeClass, int]

    def hourly_cap(self, scenario: Scenario) -> int:
        return self.hourly_caps[code_class(scenario)]


def generate_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def digest(key: bytes, send_to: str, scenario: str, code: str) -> bytes:
    """Bound to recipient and scenario, so a leaked row proves nothing about other codes."""
    return hmac.new(key, f"{scenario}\x00{send_to}\x00{code}".encode(), hashlib.sha256).digest()


def rate_limited(retry_after: timedelta) -> VerificationError:
    """The error for a send refused by the resend cooldown or the hourly cap of its class.

    The limits themselves are applied by the database under a per-recipient lock (one round
    trip per send, and no two concurrent sends can both slip under a limit).
    """
    return VerificationError(
        "too many codes for this recipient; wait before asking again",
        code=ErrorCode.rate_limited,
        retry_after_s=max(1, math.ceil(retry_after.total_seconds())),
    )


@dataclass(frozen=True)
class CheckResult:
    """What the atomic check-and-consume update saw for the live code."""

    matched: bool
    fresh: bool
    attempts: int
    max_attempts: int
    consumed: bool


def judge(result: CheckResult | None) -> None:
    """Turn the outcome of a check into success (return) or the error the caller sees."""
    if result is None:
        raise VerificationError("no valid code for this recipient and scenario; request a new one")
    if result.consumed:
        return
    if not result.fresh:
        raise VerificationError(
            "the code has expired; request a new one", code=ErrorCode.code_expired
        )
    if result.attempts >= result.max_attempts:
        raise VerificationError(
            "too many wrong attempts; request a new code", code=ErrorCode.too_many_attempts
        )
    raise VerificationError(
        "the code is not correct", attempts_left=result.max_attempts - result.attempts
    )
