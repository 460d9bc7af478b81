"""Two-factor login: a password login owes a code sent to a previously verified contact."""

import asyncio

import pytest

from contracts.identity import v1
from tests.identity_support import PASSWORD, env_settings, identity_env, tap, valid_phone
from tests.support import error_code, random_email, random_username

MAX_ATTEMPTS = 3


@pytest.fixture(scope="module")
async def env(make_settings):
    settings = env_settings(make_settings, mfa="optional", mfa_max_attempts=MAX_ATTEMPTS)
    async with identity_env(settings) as env:
        yield env


async def verified_phone_user(env, **register):
    """A user with an unverified email (unless told otherwise) and a verified phone."""
    user = await env.register(email=random_email(), **register)
    token, phone = user["session"]["token"], valid_phone()
    sent = await env.call(
        v1.start_contact_verification,
        {"token": token, "type": "phone", "contact": phone, "channel": "inbox-sms"},
    )
    assert sent["ok"], sent
    code = await env.inbox.code(phone)
    assert (await env.call(v1.confirm_contact, {"token": token, "code": code}))["ok"]
    return user, phone


async def mfa_login(env, username):
    reply = await env.call(v1.login, {"username": username, "password": PASSWORD})
    assert reply["ok"], reply
    return reply["result"]


async def enable(env, token):
    reply = await env.call(v1.set_mfa, {"token": token, "enabled": True})
    assert reply["ok"], reply
    assert reply["result"]["user"]["mfa_enabled"] is True


async def send(env, mfa_token, contact_id="phone"):
    channel = "inbox-sms" if contact_id == "phone" else "inbox"
    return await env.call(
        v1.send_mfa_code, {"mfa_token": mfa_token, "contact_id": contact_id, "channel": channel}
    )


async def test_login_gives_an_mfa_token_then_a_code_to_the_verified_phone_gives_a_session(env):
    user, phone = await verified_phone_user(env)
    await enable(env, user["session"]["token"])
    result = await mfa_login(env, user["user"]["username"])
    assert result["mfa_required"] is True and result["session"] is None
    assert result["user"] is None
    # The unverified email is not offered; the phone is, masked.
    assert [(c["id"], c["type"]) for c in result["contacts"]] == [("phone", "phone")]
    assert phone not in str(result["contacts"])
    assert (await send(env, result["mfa_token"]))["ok"]
    code = await env.inbox.code(phone)
    async with tap(env.settings, env.settings.topology.events, "user.logged_in.v1") as events:
        reply = await env.call(v1.verify_mfa, {"mfa_token": result["mfa_token"], "code": code})
        assert reply["ok"], reply
        event = await events.event("user.logged_in.v1", user["user"]["id"])
    assert event["data"]["method"] == "mfa"
    me = await env.call(v1.get_user, {"token": reply["result"]["session"]["token"]})
    assert me["result"]["user"]["id"] == user["user"]["id"]


async def test_an_unverified_email_is_refused(env):
    user, _ = await verified_phone_user(env)
    await enable(env, user["session"]["token"])
    result = await mfa_login(env, user["user"]["username"])
    reply = await send(env, result["mfa_token"], "email")
    assert error_code(reply) == "invalid_params"
    assert reply["error"]["details"]["fields"][0]["field"] == "contact_id"


async def test_wrong_codes_are_limited_and_then_even_the_right_one_fails(env):
    user, phone = await verified_phone_user(env)
    await enable(env, user["session"]["token"])
    result = await mfa_login(env, user["user"]["username"])
    assert (await send(env, result["mfa_token"]))["ok"]
    code = await env.inbox.code(phone)
    wrong = "000000" if code != "000000" else "111111"
    body = {"mfa_token": result["mfa_token"], "code": wrong}
    for _ in range(MAX_ATTEMPTS):
        assert error_code(await env.call(v1.verify_mfa, body)) == "code_invalid"
    over = await env.call(v1.verify_mfa, {**body, "code": code})
    assert error_code(over) == "too_many_attempts"
    # The token stays dead: every later attempt is over the limit as well.
    again = await env.call(v1.verify_mfa, {**body, "code": code})
    assert error_code(again) == "too_many_attempts"


async def test_the_mfa_token_is_single_use_even_under_concurrency(env):
    user, phone = await verified_phone_user(env)
    await enable(env, user["session"]["token"])
    result = await mfa_login(env, user["user"]["username"])
    assert (await send(env, result["mfa_token"]))["ok"]
    code = await env.inbox.code(phone)
    body = {"mfa_token": result["mfa_token"], "code": code}
    replies = await asyncio.gather(*(env.call(v1.verify_mfa, body) for _ in range(5)))
    assert sum(r["ok"] for r in replies) == 1
    assert error_code(await env.call(v1.verify_mfa, body)) == "token_invalid"


async def test_verifying_before_any_code_was_sent_is_refused(env):
    user, _ = await verified_phone_user(env)
    await enable(env, user["session"]["token"])
    result = await mfa_login(env, user["user"]["username"])
    reply = await env.call(v1.verify_mfa, {"mfa_token": result["mfa_token"], "code": "123456"})
    assert error_code(reply) == "invalid_operation"


async def test_mfa_cannot_be_enabled_without_a_verified_contact(env):
    user = await env.register(email=random_email())
    reply = await env.call(v1.set_mfa, {"token": user["session"]["token"], "enabled": True})
    assert error_code(reply) == "invalid_operation"


async def test_without_mfa_enabled_login_gives_a_session(env):
    user, _ = await verified_phone_user(env)
    result = await mfa_login(env, user["user"]["username"])
    assert result["mfa_required"] is False and result["session"]["token"]


async def test_an_unknown_mfa_token_is_invalid(env):
    reply = await send(env, "z" * 43)
    assert error_code(reply) == "token_invalid"


async def test_app_level_required_mfa_applies_to_every_account(make_settings):
    async with identity_env(env_settings(make_settings, mfa="required")) as env:
        email = random_email()
        code = await env.code(email, "register")
        username = random_username()
        await env.register(username=username, email=email, code=code)
        result = await mfa_login(env, username)
        assert result["mfa_required"] is True
        assert [c["id"] for c in result["contacts"]] == ["email"]  # verified at registration
        assert (await send(env, result["mfa_token"], "email"))["ok"]
        mfa_code = await env.inbox.code(email)
        reply = await env.call(v1.verify_mfa, {"mfa_token": result["mfa_token"], "code": mfa_code})
        assert reply["ok"], reply
