"""Seed paths the other tests do not walk (seeds 000 to 004): phone and password, a reset and
a deregistration by a code sent to the phone, a pre-registration deny, a deny that stops the
hooks after it and voids what earlier hooks set, `set_user_id` outside pre-registration, status
11 from every seed 004 call that needs a login, and `is_authenticated` both ways.

Every rule of every seed, with the test that covers it, is listed in tests/SEEDS.md (kept honest
by tests/unit/test_seed_coverage.py: each test it names exists, and each test here is named
there)."""

import logging

import pytest

from contracts.identity import v1
from tests.hooks_support import hooks_running
from tests.identity_support import PASSWORD, env_settings, identity_env, valid_phone
from tests.support import error_code, random_email, random_username


@pytest.fixture(scope="module")
async def env(make_settings):
    async with identity_env(env_settings(make_settings)) as env:
        yield env


async def test_a_phone_and_its_password_sign_in(env):
    phone = valid_phone()
    await env.register(phone=phone, login=False)
    reply = await env.call(v1.login, {"phone": phone, "password": PASSWORD})
    assert reply["ok"], reply
    assert reply["result"]["user"]["phone"] == phone


async def test_a_code_sent_to_the_phone_resets_the_password(env):
    phone = valid_phone()
    await env.register(phone=phone, code=await env.code(phone, "register"), login=False)
    code = await env.code(phone, "reset_password")
    body = {"phone": phone, "code": code, "new_password": "fresh-phone-pass-1"}
    assert (await env.call(v1.reset_password, body))["ok"]
    assert (await env.call(v1.login, {"phone": phone, "password": "fresh-phone-pass-1"}))["ok"]
    assert error_code(await env.call(v1.login, {"phone": phone, "password": PASSWORD})) == (
        "invalid_credentials"
    )


async def test_a_code_sent_to_the_phone_deregisters_the_user(env):
    phone = valid_phone()
    registered = await env.code(phone, "register")
    user = await env.register(phone=phone, code=registered)
    code = await env.code(phone, "deregister")
    body = {"token": user["session"]["token"], "code": code, "contact_type": "phone"}
    assert (await env.call(v1.deregister, body))["ok"]
    assert error_code(await env.call(v1.login, {"phone": phone, "password": PASSWORD})) == (
        "invalid_credentials"
    )


async def test_a_code_to_a_contact_never_proved_deregisters_nothing(env):
    # Whoever holds the mailbox of an address the account only claimed is not its owner.
    email = random_email()
    user = await env.register(email=email)
    code = await env.code(email, "deregister")
    body = {"token": user["session"]["token"], "code": code, "contact_type": "email"}
    reply = await env.call(v1.deregister, body)
    assert error_code(reply) == "invalid_params" and "contact_type" in str(reply)
    assert (await env.login(user["user"]["username"]))["ok"]


async def test_a_pre_registration_deny_creates_nothing_and_shows_the_user_message(env):
    async def no_example_org(event, api):
        if (event.user.email or "").endswith("@example.org"):
            api.access.deny("blocked-domain", "Sign-ups from this domain are closed")

    email = f"{random_username()}@example.org"
    async with hooks_running(env.settings, ("pre_registration", no_example_org, 100)):
        reply = await env.call(v1.register, {"email": email, "password": PASSWORD})
    assert error_code(reply) == "access_denied"
    assert reply["error"]["message"] == "Sign-ups from this domain are closed"
    assert "blocked-domain" not in str(reply)
    assert (await env.call(v1.validate_registration, {"email": email}))["ok"]


async def test_a_deny_stops_the_hooks_after_it(env):
    denied = await env.register(login=False)
    allowed = await env.register(login=False)
    later_saw: list[str] = []

    async def deny_one(event, api):
        if event.user.id == denied["user"]["id"]:
            api.access.deny("no", "Not you")

    async def later(event, api):
        later_saw.append(event.user.id)
        api.user.set_app_metadata("later", True)

    async with hooks_running(env.settings, ("post_login", deny_one, 10), ("post_login", later, 20)):
        refused = await env.call(
            v1.login, {"username": denied["user"]["username"], "password": PASSWORD}
        )
        # A barrier: both hooks run for this sign-in, after the refused one.
        passed = await env.call(
            v1.login, {"username": allowed["user"]["username"], "password": PASSWORD}
        )
    assert error_code(refused) == "access_denied"
    assert passed["ok"] and passed["result"]["user"]["app_metadata"] == {"later": True}
    assert later_saw == [allowed["user"]["id"]]


async def test_metadata_earlier_hooks_set_is_void_when_a_later_hook_denies(env):
    """Seed 002: metadata changes are aggregated and applied "at once before the flow is
    completed"; a flow a hook denies does not complete, so nothing of it is applied."""
    user = await env.register()

    async def tag(event, api):
        api.user.set_app_metadata("tagged", True)
        api.user.set_user_metadata("theme", "dark")

    async def deny(event, api):
        api.access.deny("no", "Not now")

    async with hooks_running(env.settings, ("post_login", tag, 10), ("post_login", deny, 20)):
        refused = await env.login(user["user"]["username"])
    assert error_code(refused) == "access_denied"
    me = await env.call(v1.get_user, {"token": user["session"]["token"]})
    assert me["result"]["user"]["app_metadata"] == {}
    assert me["result"]["user"]["user_metadata"] == {}


async def test_set_user_id_outside_pre_registration_is_refused_with_its_whole_reply(env, caplog):
    """A user's public id is fixed when the user is created (sessions, events and access tokens
    name it): a post-login hook asking to change it replies something invalid, and is treated
    as a hook that failed (post_login fails open: skipped, none of its operations applied)."""
    user = await env.register(login=False)

    async def rename(event, api):
        api.user.set_user_id("crm|renamed")
        api.user.set_app_metadata("renamed", True)

    with caplog.at_level(logging.WARNING, logger="gatehouse.identity.hooks"):
        async with hooks_running(env.settings, ("post_login", rename, 100)):
            reply = await env.login(user["user"]["username"])
    assert reply["ok"], reply
    assert reply["result"]["user"]["id"] == user["user"]["id"]
    assert reply["result"]["user"]["app_metadata"] == {}
    assert "set_user_id is allowed in pre_registration only" in caplog.text


# Seed 004: each of these "Errors Code ... 11 User login is required."
NEEDS_LOGIN = [
    (v1.deregister, {"password": PASSWORD}),  # unregister()
    (v1.logout, {}),
    (v1.change_password, {"old_password": PASSWORD, "new_password": "fresh-pass-22"}),
    (v1.get_property, {"name": "age"}),
    (v1.get_properties, {"names": ["age", "icon"]}),
    (v1.save_property, {"name": "nickname", "value": "John"}),
    (v1.save_properties, {"properties": {"nickname": "John"}}),
]


@pytest.mark.parametrize(("command", "body"), NEEDS_LOGIN, ids=lambda c: getattr(c, "name", ""))
async def test_every_seed_004_call_that_needs_a_login_answers_status_11_without_one(
    env, command, body
):
    user = await env.register()
    token = user["session"]["token"]
    assert (await env.call(v1.logout, {"token": token}))["ok"]
    for stale in (token, "x" * 43):
        reply = await env.call(command, {"token": stale, **body})
        assert error_code(reply) == "login_required", reply
        assert reply["error"]["status"] == 11
    assert (await env.login(user["user"]["username"]))["ok"]  # nothing was changed


async def test_is_authenticated_is_true_for_a_live_session_and_false_after_logout(env):
    # Seed 004 isAuthenticated(): "true if already authenticated, otherwise false".
    token = (await env.register())["session"]["token"]
    live = await env.call(v1.is_authenticated, {"token": token})
    assert live == {"ok": True, "result": {"authenticated": True}}
    assert (await env.call(v1.logout, {"token": token}))["ok"]
    gone = await env.call(v1.is_authenticated, {"token": token})
    assert gone == {"ok": True, "result": {"authenticated": False}}
