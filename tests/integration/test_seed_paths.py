"""Seed paths the other tests do not walk (seeds 000, 001, 002): phone and password, a reset and
a deregistration by a code sent to the phone, a pre-registration deny, and a deny that stops
the hooks after it."""

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
