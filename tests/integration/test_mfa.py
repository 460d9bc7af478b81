"""Two-factor login: a password login owes a code sent to a previously verified contact."""

import asyncio

import pytest

from contracts.identity import v1
from services.ops.system import SystemSettings
from tests.identity_support import PASSWORD, env_settings, identity_env, tap, valid_phone
from tests.support import error_code, random_email, random_username

MAX_ATTEMPTS = 3
COOLDOWN_S = 60


@pytest.fixture(scope="module")
async def env(make_settings):
    settings = env_settings(make_settings, mfa="optional", mfa_max_attempts=MAX_ATTEMPTS)
    assert settings.mfa_email  # tests/identity_support.py: a verified email is offered here
    async with identity_env(settings) as env:
        yield env


@pytest.fixture(scope="module")
async def strict_env(make_settings):
    """A deployment that does not require verified email (GATEHOUSE_MFA_EMAIL's default), with
    the verification cooldown on (tests wait it out with `Env.age_codes`)."""
    settings = env_settings(
        make_settings, mfa="optional", mfa_email=False, code_resend_cooldown_s=COOLDOWN_S
    )
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


async def verified_email_and_phone_user(env):
    email = random_email()
    user = await env.register_verified(email)
    token, phone = user["session"]["token"], valid_phone()
    sent = await env.call(
        v1.start_contact_verification,
        {"token": token, "type": "phone", "contact": phone, "channel": "inbox-sms"},
    )
    assert sent["ok"], sent
    code = await env.inbox.code(phone)
    assert (await env.call(v1.confirm_contact, {"token": token, "code": code}))["ok"]
    return user


def test_a_verified_email_is_no_second_factor_by_default():
    assert SystemSettings().mfa_email is False


async def test_the_email_is_offered_only_where_the_deployment_requires_verified_email(
    env, strict_env
):
    """Seed 003: the code may go to "a previously verified email address. This option is only
    available if the application requires users to verify their email address"."""
    offered = {}
    for name, e in (("requires", env), ("does_not", strict_env)):
        user = await verified_email_and_phone_user(e)
        await enable(e, user["session"]["token"])
        result = await mfa_login(e, user["user"]["username"])
        offered[name] = [c["id"] for c in result["contacts"]]
        if name == "does_not":
            reply = await send(e, result["mfa_token"], "email")
            assert error_code(reply) == "invalid_params", reply
            assert reply["error"]["details"]["fields"][0]["field"] == "contact_id"
    assert offered == {"requires": ["email", "phone"], "does_not": ["phone"]}


async def test_without_the_email_option_an_email_alone_cannot_turn_on_two_factor(strict_env):
    # Else the account's own password could no longer sign it in: no code could reach it.
    user = await strict_env.register_verified(random_email())
    reply = await strict_env.call(v1.set_mfa, {"token": user["session"]["token"], "enabled": True})
    assert error_code(reply) == "invalid_operation"
    assert "verify a phone" in reply["error"]["message"]


async def test_a_code_is_resent_after_the_cooldown_and_only_the_last_one_counts(strict_env):
    """Seed 003, 2FA widget: "Will send a new code to the user if they didn't receive the
    previous one": again too soon is `rate_limited` with `retry_after_s`; after it, a new code
    comes and voids the first."""
    env = strict_env
    user, phone = await verified_phone_user(env)
    await enable(env, user["session"]["token"])
    result = await mfa_login(env, user["user"]["username"])
    assert (await send(env, result["mfa_token"]))["ok"]
    first = await env.inbox.code(phone)
    too_soon = await send(env, result["mfa_token"])
    assert error_code(too_soon) == "rate_limited", too_soon
    retry_after_s = too_soon["error"]["details"]["retry_after_s"]
    assert 1 <= retry_after_s <= COOLDOWN_S
    await env.age_codes(phone, retry_after_s)
    again = await send(env, result["mfa_token"])
    assert again["ok"], again
    second = await env.inbox.code(phone)
    if first != second:  # one in a million: the same six digits twice
        stale = {"mfa_token": result["mfa_token"], "code": first}
        assert error_code(await env.call(v1.verify_mfa, stale)) == "code_invalid"
    reply = await env.call(v1.verify_mfa, {"mfa_token": result["mfa_token"], "code": second})
    assert reply["ok"] and reply["result"]["session"]["token"], reply
