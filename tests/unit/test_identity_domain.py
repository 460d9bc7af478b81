"""Identity rules without I/O."""

from datetime import UTC, datetime, timedelta

import pytest

from gatehouse.errors import GatehouseError, InvalidParams
from services.identity import domain, reset_destinations, throttling
from services.identity.domain import AccountShape, IdKind, Policy

POLICY = Policy(
    username_min=3,
    password_min=8,
    session_ttl=timedelta(days=1),
    session_absolute_ttl=timedelta(days=30),
    remember_ttl=timedelta(days=30),
    auto_login=True,
    max_failures=10,
    failure_window=timedelta(minutes=15),
    reset_token_ttl=timedelta(hours=1),
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("username", "message"),
    [("a b", "must not contain spaces"), ("ab", "at least 3"), ("a\tbcd", "spaces")],
)
def test_username_rules(username, message):
    with pytest.raises(InvalidParams, match=message):
        domain.check_username(username, POLICY)


def test_an_email_address_is_a_valid_username():
    assert domain.check_username("ada@example.com", POLICY).display == "ada@example.com"


def test_password_rules():
    with pytest.raises(InvalidParams, match="spaces"):
        domain.check_password("pass word1", POLICY)
    with pytest.raises(InvalidParams, match="at least 8"):
        domain.check_password("short", POLICY)
    with pytest.raises(InvalidParams, match="at most 80"):
        domain.check_password("p" * 81, POLICY)
    assert domain.check_password("p" * 80, POLICY)


@pytest.mark.parametrize("key", ["_id", "9a", "a-b", "a b", "é", ""])
def test_bad_property_keys(key):
    with pytest.raises(InvalidParams):
        domain.check_property_keys({key: 1})


def test_merge_sets_and_removes_keys_and_reports_what_changed():
    merged, changed = domain.merge_properties({"a": 1, "b": 2}, {"a": 1, "b": None, "c": 3})
    assert merged == {"a": 1, "c": 3}
    assert changed == ["b", "c"]


def test_merge_refuses_a_result_over_500_kb():
    with pytest.raises(InvalidParams, match="500 KB"):
        domain.merge_properties({"a": "x" * 300_000}, {"b": "y" * 300_000})


def test_throttling_counts_this_attempt_and_gives_retry_after():
    assert throttling.throttled(POLICY, 10, NOW, NOW + timedelta(minutes=1)) is None
    refusal = throttling.throttled(POLICY, 11, NOW, NOW + timedelta(minutes=5))
    assert isinstance(refusal, GatehouseError)
    assert refusal.code == "too_many_attempts"
    assert refusal.details["retry_after_s"] == 600
    assert throttling.throttled(POLICY, 50, NOW, NOW + timedelta(minutes=15)) is None


def test_the_last_login_method_cannot_be_unbound():
    only_phone = AccountShape(username=False, email=False, phone=True, password=True)
    with pytest.raises(GatehouseError, match="last way"):
        domain.check_unbind(only_phone, IdKind.phone)
    no_password = AccountShape(username=True, email=False, phone=True, password=False)
    with pytest.raises(GatehouseError, match="last way"):
        domain.check_unbind(no_password, IdKind.phone)
    both = AccountShape(username=False, email=True, phone=True, password=False)
    domain.check_unbind(both, IdKind.phone)


def test_exactly_one_identifier_is_required():
    with pytest.raises(InvalidParams):
        domain.one_identifier("ada", "ada@example.com", None, None)
    with pytest.raises(InvalidParams):
        domain.one_identifier(None, None, None, None)
    ident = domain.one_identifier(None, " Ada@Example.com ", None, None)
    assert ident.kind is IdKind.email and ident.value == "ada@example.com"


def test_tokens_have_256_bits_and_are_stored_as_sha256():
    token = domain.new_token()
    assert len(token) == 43
    assert len(domain.token_digest(token)) == 32
    assert domain.new_token() != token


def test_a_reset_mail_goes_only_to_the_verified_email_whatever_field_names_it():
    email = "ada@example.com"
    props = {"backupEmail": "ADA@example.com", "contactMail": "thief@example.net"}

    def address(name, verified=True, username="ada"):
        return reset_destinations.address(name, email, verified, username, props)

    assert address("email") == email
    assert address("backupEmail") == email  # holds the verified address, spelled otherwise
    assert address("contactMail") is None  # a property is never proved by itself
    assert address("_username", username=email) == email
    assert address("username", username="thief@example.net") is None
    assert address("email", verified=False) is None
    assert address("missing") is None


def test_reset_mail_options_come_from_the_operators_lists():
    lists = {"templates": {"send_password_token"}, "properties": {"email", "_username"}}
    reset_destinations.check(None, None, **lists)
    reset_destinations.check("send_password_token", "_username", **lists)
    with pytest.raises(InvalidParams) as raised:
        reset_destinations.check("phish", None, **lists)
    assert [f["field"] for f in raised.value.details["fields"]] == ["template_name"]
    with pytest.raises(InvalidParams) as raised:
        reset_destinations.check(None, "backupEmail", **lists)
    assert [f["field"] for f in raised.value.details["fields"]] == ["email_property_name"]
