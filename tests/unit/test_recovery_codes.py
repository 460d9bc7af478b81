"""Recovery codes' pure rules: ten distinct codes of 50 random bits as shown, and a digest
that ignores case and the dash but is bound to its key and its user."""

import re

from services.identity import recovery

KEY = b"k" * 32


def test_a_set_is_ten_distinct_codes_in_two_groups_of_five_base32():
    codes = recovery.new_codes()
    assert len(codes) == len(set(codes)) == recovery.COUNT == 10
    assert all(re.fullmatch(r"[A-Z2-7]{5}-[A-Z2-7]{5}", c) for c in codes), codes


def test_the_digest_ignores_case_and_the_dash():
    code = recovery.new_codes()[0]
    typed = code.replace("-", "").lower()
    assert recovery.digest(KEY, 7, typed) == recovery.digest(KEY, 7, code)


def test_the_digest_is_bound_to_its_user_and_key():
    code = recovery.new_codes()[0]
    digest = recovery.digest(KEY, 7, code)
    assert recovery.digest(KEY, 8, code) != digest
    assert recovery.digest(b"x" * 32, 7, code) != digest
    assert code.encode() not in digest
