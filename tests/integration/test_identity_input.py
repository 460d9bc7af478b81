"""Bad input for every identity command is `invalid_params` naming the field."""

import pytest

from contracts.identity import v1
from tests.identity_support import env_settings, identity_env
from tests.support import error_code, error_fields

TOKEN = "t" * 43
CODE = "123456"

# One well-formed body per command; each case below spoils one field of it.
VALID: dict[str, dict] = {
    "register": {"username": "alice_x", "password": "long-enough-1"},
    "validate_registration": {"username": "alice_x"},
    "login": {"username": "alice_x", "password": "long-enough-1"},
    "logout": {"token": TOKEN},
    "authenticate": {"token": TOKEN},
    "is_authenticated": {"token": TOKEN},
    "auto_login": {"remember_token": TOKEN},
    "get_user": {"token": TOKEN},
    "refresh": {"token": TOKEN},
    "jwks": {},
    "bind_contact": {"token": TOKEN, "email": "a@example.com", "code": CODE},
    "unbind_contact": {"token": TOKEN, "contact_type": "email", "code": CODE},
    "reset_password": {"email": "a@example.com", "code": CODE, "new_password": "long-enough-1"},
    "change_password": {
        "token": TOKEN,
        "old_password": "long-enough-1",
        "new_password": "long-enough-2",
    },
    "send_password_reset_token": {"username": "alice_x"},
    "reset_password_with_token": {
        "username": "alice_x",
        "token": TOKEN,
        "new_password": "long-enough-1",
    },
    "deregister": {"token": TOKEN, "password": "long-enough-1"},
    "get_properties": {"token": TOKEN},
    "save_properties": {"token": TOKEN, "properties": {"age": 1}},
    "get_property": {"token": TOKEN, "name": "age"},
    "save_property": {"token": TOKEN, "name": "age", "value": 1},
    "set_mfa": {"token": TOKEN, "enabled": True},
    "send_mfa_code": {"mfa_token": TOKEN, "contact_id": "email"},
    "verify_mfa": {"mfa_token": TOKEN, "code": CODE},
    "enroll_totp": {"token": TOKEN},
    "confirm_totp": {"token": TOKEN, "code": CODE},
    "remove_totp": {"token": TOKEN},
    "regenerate_recovery_codes": {"token": TOKEN},
    "list_factors": {"token": TOKEN},
    "start_contact_verification": {"token": TOKEN, "type": "phone", "contact": "+447911123456"},
    "confirm_contact": {"token": TOKEN, "code": CODE},
}
BY_NAME = {spec.name: spec for spec in v1.COMMANDS}


def structural_cases() -> list[tuple[str, object, str]]:
    cases: list[tuple[str, object, str]] = []
    for name, body in VALID.items():
        cases += [
            (name, b"{not json", "body"),
            (name, b"[]", "body"),
            (name, {**body, "unexpected": 1}, "unexpected"),
        ]
        if (first := next(iter(body), None)) is not None:  # jwks takes no field
            cases += [
                (name, {**body, first: 12345 if isinstance(body[first], str) else "x"}, first),
                (
                    name,
                    {**body, first: "x" * 70_000} if isinstance(body[first], str) else None,
                    first,
                ),
            ]
        required = [
            f for f, info in BY_NAME[name].request.model_fields.items() if info.is_required()
        ]
        if required:
            cases.append((name, {k: v for k, v in body.items() if k != required[0]}, required[0]))
    return [c for c in cases if c[1] is not None]


RULE_CASES: list[tuple[str, object, str]] = [
    ("login", {"username": "alice_x", "email": "a@example.com", "password": "x"}, "username"),
    ("login", {"username": "alice_x"}, "password"),
    ("login", {"username": "alice_x", "code": CODE}, "code"),
    ("login", {"email": "a@example.com", "password": "x", "code": CODE}, "password"),
    ("login", {"email": "nope", "password": "x"}, "email"),
    ("login", {"phone": "+1", "code": CODE}, "phone"),
    ("login", {"email": "a@example.com", "code": "12345"}, "code"),
    ("bind_contact", {"token": TOKEN, "code": CODE}, "email"),
    ("bind_contact", {"token": TOKEN, "username": "x", "code": CODE}, "username"),
    ("unbind_contact", {"token": TOKEN, "contact_type": "fax", "code": CODE}, "contact_type"),
    ("reset_password", {"code": CODE, "new_password": "long-enough-1"}, "email"),
    (
        "reset_password",
        {"email": "a@example.com", "code": CODE, "new_password": "short"},
        "new_password",
    ),
    (
        "change_password",
        {**VALID["change_password"], "new_password": "has spaces 1"},
        "new_password",
    ),
    ("send_password_reset_token", {}, "username"),
    (
        "reset_password_with_token",
        {**VALID["reset_password_with_token"], "new_password": "s"},
        "new_password",
    ),
    ("deregister", {"token": TOKEN}, "password"),
    ("deregister", {"token": TOKEN, "password": "p" * 80, "code": CODE}, "password"),
    ("save_properties", {"token": TOKEN, "properties": {"_x": 1}}, "properties._x"),
    ("save_properties", {"token": TOKEN, "properties": []}, "properties"),
    ("get_properties", {"token": TOKEN, "names": "age"}, "names"),
    ("save_property", {"token": TOKEN, "name": "_x", "value": 1}, "name"),
    ("get_property", {"token": TOKEN, "name": ""}, "name"),
    (
        "send_password_reset_token",
        {"username": "alice_x", "template_name": "../x"},
        "template_name",
    ),
    (
        "send_password_reset_token",
        {"username": "alice_x", "email_property_name": "a b"},
        "email_property_name",
    ),
    ("auto_login", {"remember_token": "has spaces and is long"}, "remember_token"),
    ("authenticate", {"token": "short"}, "token"),
]


@pytest.fixture(scope="module")
async def env(make_settings):
    async with identity_env(env_settings(make_settings), with_verification=False) as env:
        yield env


def test_every_command_has_a_valid_body_here():
    assert set(VALID) == set(BY_NAME)


@pytest.mark.parametrize(("name", "body", "field"), structural_cases() + RULE_CASES)
async def test_bad_input_is_invalid_params_naming_the_field(env, name, body, field):
    reply = await env.call(BY_NAME[name], body)
    assert error_code(reply) == "invalid_params", reply
    assert reply["error"]["status"] == -32602
    assert field in error_fields(reply), reply
