"""Verify contact: send a code to a new or bound contact, resend, change number, confirm."""

import pytest

from contracts.identity import v1
from tests.identity_support import env_settings, identity_env, tap, valid_phone
from tests.support import error_code, random_email


@pytest.fixture(scope="module")
async def env(make_settings):
    # A real cooldown: "resend too soon" is part of the flow.
    async with identity_env(env_settings(make_settings, code_resend_cooldown_s=60)) as env:
        yield env


@pytest.fixture(scope="module")
async def cooldown_env(make_settings):
    """The verification cooldown on (the test waits it out with `Env.age_codes`)."""
    async with identity_env(env_settings(make_settings, code_resend_cooldown_s=60)) as env:
        yield env


async def start(env, token, contact, type_="phone"):
    channel = "inbox-sms" if type_ == "phone" else "inbox"
    return await env.call(
        v1.start_contact_verification,
        {"token": token, "type": type_, "contact": contact, "channel": channel},
    )


async def test_a_new_phone_is_bound_and_verified_with_its_code_and_an_event(env):
    user = await env.register()
    token, phone = user["session"]["token"], valid_phone()
    async with tap(env.settings, env.settings.topology.events, "user.contact_verified.v1") as t:
        sent = await start(env, token, phone)
        assert sent["ok"], sent
        assert set(sent["result"]) == {"expires_at", "resend_after"}
        code = await env.inbox.code(phone)
        reply = await env.call(v1.confirm_contact, {"token": token, "code": code})
        assert reply["ok"], reply
        event = await t.event("user.contact_verified.v1", user["user"]["id"])
    assert reply["result"]["user"]["phone"] == phone
    assert reply["result"]["user"]["phone_verified"] is True
    assert event["data"]["contact"] == {"type": "phone", "value": phone}


async def test_the_bound_unverified_email_becomes_verified(env):
    email = random_email()
    user = await env.register(email=email)
    assert user["user"]["email_verified"] is False
    token = user["session"]["token"]
    assert (await start(env, token, email, "email"))["ok"]
    code = await env.inbox.code(email)
    reply = await env.call(v1.confirm_contact, {"token": token, "code": code})
    assert reply["result"]["user"]["email"] == email
    assert reply["result"]["user"]["email_verified"] is True


async def test_resending_too_soon_is_rate_limited_with_retry_after(env):
    user = await env.register()
    token, phone = user["session"]["token"], valid_phone()
    assert (await start(env, token, phone))["ok"]
    again = await start(env, token, phone)
    assert error_code(again) == "rate_limited"
    assert 0 < again["error"]["details"]["retry_after_s"] <= 60


async def test_after_the_cooldown_a_new_code_is_sent_and_only_it_confirms(cooldown_env):
    """Seed 003, code verification: "Will send a new code to the user if they didn't receive
    the previous one"."""
    env = cooldown_env
    user = await env.register()
    token, phone = user["session"]["token"], valid_phone()
    assert (await start(env, token, phone))["ok"]
    first = await env.inbox.code(phone)
    too_soon = await start(env, token, phone)
    assert error_code(too_soon) == "rate_limited"
    await env.age_codes(phone, too_soon["error"]["details"]["retry_after_s"])
    assert (await start(env, token, phone))["ok"]
    second = await env.inbox.code(phone)
    if first != second:  # one in a million: the same six digits twice
        stale = await env.call(v1.confirm_contact, {"token": token, "code": first})
        assert error_code(stale) == "code_invalid"
    reply = await env.call(v1.confirm_contact, {"token": token, "code": second})
    assert reply["ok"] and reply["result"]["user"]["phone_verified"], reply


async def test_changing_the_number_voids_the_earlier_code(env):
    user = await env.register()
    token, old, new = user["session"]["token"], valid_phone(), valid_phone()
    assert (await start(env, token, old))["ok"]
    old_code = await env.inbox.code(old)
    assert (await start(env, token, new))["ok"]
    new_code = await env.inbox.code(new)
    stale = await env.call(v1.confirm_contact, {"token": token, "code": old_code})
    assert error_code(stale) in {"code_invalid", "code_expired"} or old_code == new_code
    reply = await env.call(v1.confirm_contact, {"token": token, "code": new_code})
    assert reply["ok"], reply
    assert reply["result"]["user"]["phone"] == new


async def test_a_contact_another_account_verified_is_taken(env):
    email = random_email()
    await env.register_verified(email)
    user = await env.register()
    reply = await start(env, user["session"]["token"], email, "email")
    assert error_code(reply) == "contact_taken"


async def test_confirming_with_nothing_started_is_not_found(env):
    user = await env.register()
    reply = await env.call(
        v1.confirm_contact, {"token": user["session"]["token"], "code": "123456"}
    )
    assert error_code(reply) == "not_found"


async def test_a_session_is_required(env):
    reply = await start(env, "t" * 43, valid_phone())
    assert error_code(reply) == "login_required"
