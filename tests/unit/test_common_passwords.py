"""The common-password rule without I/O beyond reading the shipped list."""

import dataclasses
import time

import pytest

from contracts.errors import ErrorCode
from services.identity import domain
from services.identity.common_passwords import common_passwords, shipped_passwords
from services.identity.domain import IdentityError
from tests.unit.test_identity_domain import POLICY


def test_the_shipped_list_holds_at_least_100_000_case_folded_passwords():
    shipped = shipped_passwords()
    assert len(set(shipped)) == len(shipped) >= 100_000
    assert all(p == p.casefold() and not any(c.isspace() for c in p) for p in shipped)
    common = common_passwords()
    assert len(common) == len(shipped)
    assert all(p in common for p in ("password1", "qwerty123", "123456", "iloveyou"))
    assert all(p in common for p in shipped[::97])
    assert "violet-anchor-toffee-71" not in common and "" not in common and None not in common


def test_the_list_is_read_once_per_process():
    assert common_passwords() is common_passwords()


@pytest.mark.parametrize("password", ["password1", "Password1", "QWERTY123", "iloveyou"])
def test_a_common_password_is_too_common_naming_the_field(password):
    policy = dataclasses.replace(POLICY, common_passwords=common_passwords())
    with pytest.raises(IdentityError) as raised:
        domain.check_password(password, policy, "new_password")
    assert raised.value.code is ErrorCode.password_too_common
    assert raised.value.code.status == -32602
    assert raised.value.details["fields"][0]["field"] == "new_password"
    assert password not in raised.value.message


def test_a_strong_password_passes_and_no_list_means_no_check():
    policy = dataclasses.replace(POLICY, common_passwords=common_passwords())
    assert domain.check_password("violet-anchor-toffee-71", policy)
    assert domain.check_password("password1", POLICY)


def test_a_check_costs_well_under_a_millisecond():
    policy = dataclasses.replace(POLICY, common_passwords=common_passwords())
    started = time.perf_counter()
    for _ in range(10_000):
        domain.check_password("violet-anchor-toffee-71", policy)
    assert (time.perf_counter() - started) / 10_000 < 0.0001
