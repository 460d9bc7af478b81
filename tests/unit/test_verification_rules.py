"""Verification rules without I/O: codes, digests, rate limits, check outcomes."""

from datetime import timedelta

import pytest

from contracts.errors import ErrorCode
from contracts.verification import v1
from services.verification import domain
from services.verification.domain import CheckResult, VerificationError


def test_codes_are_six_digits_and_vary():
    codes = {domain.generate_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(codes) > 150


def test_a_digest_is_bound_to_recipient_scenario_and_key():
    base = domain.digest(b"k", "a@example.com", "login", "123456")
    assert base != domain.digest(b"k", "b@example.com", "login", "123456")
    assert base != domain.digest(b"k", "a@example.com", "register", "123456")
    assert base != domain.digest(b"other", "a@example.com", "login", "123456")
    assert b"123456" not in base


def test_a_refused_send_says_when_to_retry_in_whole_seconds():
    error = domain.rate_limited(timedelta(seconds=44, milliseconds=200))
    assert error.code is ErrorCode.rate_limited
    assert error.details["retry_after_s"] == 45


@pytest.mark.parametrize(
    ("result", "code"),
    [
        (None, ErrorCode.code_invalid),
        (
            CheckResult(matched=True, fresh=False, attempts=0, max_attempts=5, consumed=False),
            ErrorCode.code_expired,
        ),
        (
            CheckResult(matched=False, fresh=True, attempts=5, max_attempts=5, consumed=False),
            ErrorCode.too_many_attempts,
        ),
        (
            CheckResult(matched=True, fresh=True, attempts=5, max_attempts=5, consumed=False),
            ErrorCode.too_many_attempts,
        ),
        (
            CheckResult(matched=False, fresh=True, attempts=2, max_attempts=5, consumed=False),
            ErrorCode.code_invalid,
        ),
    ],
)
def test_check_outcomes(result, code):
    with pytest.raises(VerificationError) as caught:
        domain.judge(result)
    assert caught.value.code is code


def test_a_consumed_code_is_success():
    domain.judge(CheckResult(matched=True, fresh=True, attempts=1, max_attempts=5, consumed=True))


def test_every_scenario_has_a_cap_class():
    assert set(domain.SCENARIO_CLASS) == set(v1.Scenario)


def test_sign_in_and_second_factor_codes_are_capped_apart_from_registration_and_binding():
    assert domain.class_scenarios(domain.CodeClass.second_factor) == ["two_factor"]
    assert domain.class_scenarios(domain.CodeClass.sign_in) == ["login", "reset_password"]
    assert domain.class_scenarios(domain.CodeClass.account) == [
        "bind",
        "deregister",
        "register",
        "unbind",
        "verify_contact",
    ]


def test_the_policy_gives_each_scenario_the_cap_of_its_class():
    policy = domain.Policy(
        ttl=timedelta(minutes=10),
        max_attempts=5,
        resend_cooldown=timedelta(seconds=60),
        hourly_caps={
            domain.CodeClass.second_factor: 2,
            domain.CodeClass.sign_in: 3,
            domain.CodeClass.account: 7,
        },
    )
    assert policy.hourly_cap(v1.Scenario.two_factor) == 2
    assert policy.hourly_cap(v1.Scenario.login) == 3
    assert policy.hourly_cap(v1.Scenario.bind) == 7
