"""Identity accounts: registration races, validation, contacts, properties, deregistration."""

import asyncio
from datetime import datetime

import pytest

from contracts.identity import v1
from services.identity import store
from tests.identity_support import PASSWORD, env_settings, identity_env, valid_phone
from tests.support import error_code, error_fields, eventually, random_email, random_username


@pytest.fixture(scope="module")
async def env(make_settings):
    async with identity_env(env_settings(make_settings)) as env:
        yield env


async def test_fifty_concurrent_registrations_of_one_username_succeed_exactly_once(env):
    username = random_username()
    replies = await asyncio.gather(
        *(env.call(v1.register, {"username": username, "password": PASSWORD}) for _ in range(50))
    )
    assert sum(r["ok"] for r in replies) == 1
    assert {error_code(r) for r in replies if not r["ok"]} == {"username_taken"}


async def test_a_username_differing_only_in_case_is_taken(env):
    username = random_username()
    await env.register(username=username)
    reply = await env.call(v1.register, {"username": username.upper(), "password": PASSWORD})
    assert error_code(reply) == "username_taken"


async def test_the_user_view_never_shows_the_internal_key_or_a_credential(env):
    user = (await env.register(properties={"age": 21}))["user"]
    assert set(user) == {
        "id",
        "username",
        "email",
        "phone",
        "email_verified",
        "phone_verified",
        "properties",
        "created_at",
        "updated_at",
        "app_metadata",
        "user_metadata",
        "mfa_enabled",
    }
    assert user["id"].startswith("u_") and user["properties"] == {"age": 21}


async def test_registration_by_phone_and_code_alone_verifies_the_phone(env):
    phone = valid_phone()
    code = await env.code(phone, "register")
    reply = await env.call(v1.register, {"phone": phone, "code": code, "login": True})
    assert reply["ok"], reply
    assert reply["result"]["user"]["phone_verified"]
    assert reply["result"]["session"]["token"]


async def test_an_email_registered_with_a_password_only_is_not_verified(env):
    email = random_email()
    reply = await env.call(v1.register, {"email": email.upper(), "password": PASSWORD})
    assert reply["ok"], reply
    assert reply["result"]["user"]["email"] == email
    assert not reply["result"]["user"]["email_verified"]
    again = await env.call(v1.register, {"email": email, "password": PASSWORD})
    assert error_code(again) == "email_taken"


async def test_a_wrong_register_code_is_code_invalid_and_creates_nothing(env):
    email = random_email()
    code = await env.code(email, "register")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    reply = await env.call(v1.register, {"email": email, "code": wrong, "password": PASSWORD})
    assert error_code(reply) == "code_invalid"
    assert (await env.call(v1.validate_registration, {"email": email}))["ok"]


async def test_validate_registration_checks_rules_and_availability_without_creating(env):
    username = random_username()
    assert (await env.call(v1.validate_registration, {"username": username}))["ok"]
    assert (await env.call(v1.validate_registration, {"username": username}))["ok"]
    await env.register(username=username)
    reply = await env.call(v1.validate_registration, {"username": username})
    assert error_code(reply) == "username_taken"
    reply = await env.call(v1.validate_registration, {"username": "has space"})
    assert error_code(reply) == "invalid_params"
    assert reply["error"]["message"] == "username: username must not contain spaces"


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"username": "a b c d", "password": PASSWORD}, "username", "must not contain spaces"),
        ({"username": "ab", "password": PASSWORD}, "username", "at least 3 characters"),
        ({"username": "u" * 256, "password": PASSWORD}, "username", "at most 255"),
        ({"username": "alice_x", "password": "has space 1"}, "password", "must not contain"),
        ({"username": "alice_x", "password": "short"}, "password", "at least 8 characters"),
        ({"username": "alice_x", "password": "p" * 81}, "password", "at most 80"),
        ({"username": "alice_x"}, "password", "give a password or a code"),
        ({"password": PASSWORD}, "username", "give a username, an email or a phone"),
        ({"username": "alice_x", "code": "123456"}, "code", "proves an email or a phone"),
        ({"email": "not-an-email", "password": PASSWORD}, "email", "not a valid email"),
        ({"phone": "+44 12", "password": PASSWORD}, "phone", "not a valid phone"),
        (
            {"username": "alice_x", "password": PASSWORD, "properties": {"_secret": 1}},
            "properties._secret",
            "must not start with '_'",
        ),
        (
            {"username": "alice_x", "password": PASSWORD, "properties": {"9lives": 1}},
            "properties.9lives",
            "[a-zA-Z][a-zA-Z0-9]*",
        ),
        (
            {"username": "alice_x", "password": PASSWORD, "properties": {"bad-key": 1}},
            "properties.bad-key",
            "[a-zA-Z][a-zA-Z0-9]*",
        ),
        (
            {"username": "alice_x", "password": PASSWORD, "properties": {"big": "x" * 520_000}},
            "properties",
            "500 KB",
        ),
    ],
)
async def test_registration_rules_are_invalid_params_naming_field_and_rule(env, body, field, rule):
    reply = await env.call(v1.register, body)
    assert error_code(reply) == "invalid_params", reply
    assert reply["error"]["status"] == -32602
    assert error_fields(reply) == [field]
    assert rule in reply["error"]["message"]


async def test_properties_are_updated_partially_and_null_removes_a_key(env):
    user = await env.register(properties={"age": 21, "nickname": "Ada"})
    token = user["session"]["token"]
    reply = await env.call(
        v1.save_properties, {"token": token, "properties": {"age": 22, "nickname": None}}
    )
    assert reply["result"]["properties"] == {"age": 22}
    reply = await env.call(
        v1.save_properties, {"token": token, "properties": {"icon": {"url": "x"}}}
    )
    assert reply["result"]["properties"] == {"age": 22, "icon": {"url": "x"}}
    reply = await env.call(v1.get_properties, {"token": token, "names": ["icon", "missing"]})
    assert reply["result"]["properties"] == {"icon": {"url": "x"}}
    reply = await env.call(v1.get_user, {"token": token})
    assert reply["result"]["user"]["properties"] == {"age": 22, "icon": {"url": "x"}}


async def test_properties_over_500_kb_in_total_are_refused_and_nothing_changes(env):
    user = await env.register()
    token = user["session"]["token"]
    half = "x" * 300_000
    assert (await env.call(v1.save_properties, {"token": token, "properties": {"a": half}}))["ok"]
    reply = await env.call(v1.save_properties, {"token": token, "properties": {"b": half}})
    assert error_code(reply) == "invalid_params"
    assert error_fields(reply) == ["properties"]
    reply = await env.call(v1.get_properties, {"token": token})
    assert list(reply["result"]["properties"]) == ["a"]


async def test_bad_property_keys_are_refused_on_save(env):
    token = (await env.register())["session"]["token"]
    reply = await env.call(v1.save_properties, {"token": token, "properties": {"_id": "x"}})
    assert error_fields(reply) == ["properties._id"]


async def test_concurrent_saves_of_different_keys_all_land(env):
    token = (await env.register())["session"]["token"]
    await asyncio.gather(
        *(
            env.call(v1.save_properties, {"token": token, "properties": {f"k{i}": i}})
            for i in range(10)
        )
    )
    reply = await env.call(v1.get_properties, {"token": token})
    assert reply["result"]["properties"] == {f"k{i}": i for i in range(10)}


async def test_a_contact_another_account_verified_is_contact_taken(env):
    email = random_email()
    await env.register_verified(email)
    other = await env.register()
    code = await env.code(email, "bind")
    reply = await env.call(
        v1.bind_contact, {"token": other["session"]["token"], "email": email, "code": code}
    )
    assert error_code(reply) == "contact_taken"


async def test_the_last_way_to_sign_in_cannot_be_unbound(env):
    phone = valid_phone()
    code = await env.code(phone, "register")
    user = (await env.call(v1.register, {"phone": phone, "code": code, "login": True}))["result"]
    reply = await env.call(
        v1.unbind_contact,
        {"token": user["session"]["token"], "contact_type": "phone", "code": "123456"},
    )
    assert error_code(reply) == "last_login_method"
    # With a password and a username a contact may go.
    user = await env.register(phone=valid_phone())
    phone = user["user"]["phone"]
    code = await env.code(phone, "unbind")
    reply = await env.call(
        v1.unbind_contact,
        {"token": user["session"]["token"], "contact_type": "phone", "code": code},
    )
    assert reply["ok"] and reply["result"]["user"]["phone"] is None


async def test_unbinding_a_contact_that_is_not_bound_is_not_found(env):
    user = await env.register()
    reply = await env.call(
        v1.unbind_contact,
        {"token": user["session"]["token"], "contact_type": "email", "code": "123456"},
    )
    assert error_code(reply) == "not_found"


async def test_deregistration_deletes_everything_and_verification_purges_the_codes(env):
    email, phone = random_email(), valid_phone()
    user = await env.register_verified(email, phone=phone)
    await env.call(
        v1.login, {"email": email, "password": PASSWORD, "remember": True}
    )  # a second session and a remember token
    await env.call(v1.send_password_reset_token, {"email": email})
    await env.code(email, "login")  # an unused code for each contact
    await env.code(phone, "login")

    async def token_made() -> bool:  # reset tokens are made off the reply path
        counts = await store.users.user_data_counts(env.identity.pool, user["user"]["id"])
        return counts["reset_tokens"] == 1

    await eventually(token_made)
    counts = await store.users.user_data_counts(env.identity.pool, user["user"]["id"])
    assert counts == {
        "users": 1,
        "credentials": 1,
        "sessions": 2,
        "remember_tokens": 1,
        "reset_tokens": 1,
    }
    reply = await env.call(
        v1.deregister, {"token": user["session"]["token"], "password": "wrong-password"}
    )
    assert error_code(reply) == "invalid_credentials"
    reply = await env.call(v1.deregister, {"token": user["session"]["token"], "password": PASSWORD})
    assert reply["ok"], reply
    counts = await store.users.user_data_counts(env.identity.pool, user["user"]["id"])
    assert set(counts.values()) == {0}

    async def codes_purged() -> bool:
        left = await env.verification.pool.fetchval(
            "SELECT count(*) FROM codes WHERE send_to = ANY($1::text[])", [email, phone]
        )
        return left == 0

    await eventually(codes_purged)
    # The contacts are free again.
    assert (await env.call(v1.validate_registration, {"email": email, "phone": phone}))["ok"]


async def test_one_property_is_read_and_saved_alone(env):
    # Seed 004: getProperty(name) and saveProperty(name, value).
    token = (await env.register(properties={"age": 21}))["session"]["token"]
    assert (await env.call(v1.get_property, {"token": token, "name": "age"}))["result"] == {
        "value": 21
    }
    saved = await env.call(v1.save_property, {"token": token, "name": "nickname", "value": "Ada"})
    assert saved["result"]["properties"] == {"age": 21, "nickname": "Ada"}
    removed = await env.call(v1.save_property, {"token": token, "name": "age", "value": None})
    assert removed["result"]["properties"] == {"nickname": "Ada"}
    missing = await env.call(v1.get_property, {"token": token, "name": "age"})
    assert missing["result"] == {"value": None}


def unixtime(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp).timestamp())


async def test_view_monaca_adds_seed_004s_user_and_the_default_reply_is_unchanged(env):
    # Seed 004: done(result) -> result.user {_id, _username, _createdAt, _updateAt (unixtime),
    # and the user-defined properties}. Asked for, it comes beside our own view.
    username = random_username()
    body = {"username": username, "password": PASSWORD, "properties": {"age": 21, "id": "x7"}}
    registered = await env.call(v1.register, {**body, "login": True, "view": "monaca"})
    assert registered["ok"], registered
    user, token = registered["result"]["user"], registered["result"]["session"]["token"]
    seed = {
        "_id": user["id"],
        "_username": username,
        "_createdAt": unixtime(user["created_at"]),
        "_updateAt": unixtime(user["updated_at"]),
        "age": 21,
        "id": "x7",  # a property named like our field stays a property
    }
    assert registered["result"]["monaca_user"] == seed
    signed_in = await env.call(
        v1.login, {"username": username, "password": PASSWORD, "view": "monaca", "remember": True}
    )
    assert signed_in["result"]["monaca_user"] == seed
    remember = signed_in["result"]["remember_token"]
    auto = await env.call(v1.auto_login, {"remember_token": remember, "view": "monaca"})
    assert auto["result"]["monaca_user"] == seed
    for command in (v1.get_user, v1.authenticate):
        reply = await env.call(command, {"token": token, "view": "monaca"})
        assert reply["result"]["monaca_user"] == seed
        # The default view is the reply version 1 always gave: no new key, not even a null.
        plain = await env.call(command, {"token": token})
        assert "monaca_user" not in plain["result"] and plain["result"]["user"] == user
    saved = await env.call(v1.save_property, {"token": token, "name": "age", "value": 22})
    assert saved["ok"], saved
    later = (await env.call(v1.get_user, {"token": token, "view": "monaca"}))["result"]
    assert later["monaca_user"]["age"] == 22
    assert later["monaca_user"]["_updateAt"] == unixtime(later["user"]["updated_at"])
    unknown = await env.call(v1.get_user, {"token": token, "view": "parse"})
    assert error_fields(unknown) == ["view"]
