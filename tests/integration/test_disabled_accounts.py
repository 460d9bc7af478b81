"""A disabled user gets in nowhere (issue 16): every sign-in path answers `account_disabled`
(or finds its credential revoked), existing sessions and remember tokens go at once, and the
user is let back by `enable_user` or when `until` passes. Where a flow hides whether an
account exists, a disabled account is told apart only by the right password."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from contracts.admin import v1 as admin
from contracts.identity import v1, v2
from contracts.notifier import v1 as notifier
from tests.identity_support import ACCESS_TOKENS, env_settings, identity_env, tap, valid_phone
from tests.support import error_code, random_email, random_username

NEW_PASSWORD = "another-horse-2"


@pytest.fixture(scope="module")
async def env(make_settings):
    settings = env_settings(make_settings, mfa="optional", **ACCESS_TOKENS)
    async with identity_env(settings) as env:
        yield env


async def disable(env, user_id: str, until: datetime | None = None) -> dict:
    body = {"id": user_id, "reason": "abuse"}
    if until is not None:
        body["until"] = until.isoformat()
    reply = await env.admin(admin.disable_user, body)
    assert reply["ok"], reply
    return reply["result"]["user"]


async def test_the_right_password_is_told_the_account_is_disabled_a_wrong_one_is_not(env):
    user = (await env.register(login=False))["user"]
    await disable(env, user["id"])
    right = await env.login(user["username"])
    assert error_code(right) == "account_disabled" and right["error"]["status"] == 13
    assert "until" not in right["error"]["details"]
    wrong = await env.call(v1.login, {"username": user["username"], "password": "not-it-at-all"})
    unknown = await env.call(v1.login, {"username": random_username(), "password": "not-it-at-all"})
    assert error_code(wrong) == "invalid_credentials" and wrong == unknown


async def test_a_code_login_proves_the_contact_and_is_told(env):
    email = random_email()
    user = (await env.register_verified(email, login=False))["user"]
    await disable(env, user["id"])
    code = await env.code(email, "login")
    reply = await env.call(v1.login, {"email": email, "code": code})
    assert error_code(reply) == "account_disabled"


async def test_sessions_remember_tokens_and_access_tokens_stop_at_once(env):
    user = await env.register(remember=True)
    token = user["session"]["token"]
    await disable(env, user["user"]["id"])
    assert error_code(await env.call(v1.authenticate, {"token": token})) == "login_required"
    assert error_code(await env.call(v1.get_user, {"token": token})) == "login_required"
    assert error_code(await env.call(v1.refresh, {"token": token})) == "login_required"
    alive = await env.call(v1.is_authenticated, {"token": token})
    assert alive["result"] == {"authenticated": False}
    # The remember token went with the sessions: it names no account any more.
    auto = await env.call(v1.auto_login, {"remember_token": user["remember_token"]})
    assert error_code(auto) == "login_required"


async def test_a_reset_token_mailed_before_is_void_and_none_is_mailed_while_disabled(env):
    user = (await env.register_verified(random_email(), login=False))["user"]
    before = await env.mailed_reset_token(user["username"])
    await disable(env, user["id"])
    body = {"username": user["username"], "token": before, "new_password": NEW_PASSWORD}
    assert error_code(await env.call(v1.reset_password_with_token, body)) == "token_invalid"
    for command in (v1.reset_password_with_token, v2.reset_password_with_token):
        assert error_code(await env.call(command, body)) in ("token_invalid", "account_disabled")
    # While disabled a request is answered as always and mails nothing (a token made now
    # could be an intruder's way back in once the account is enabled).
    other = (await env.register_verified(random_email(), login=False))["user"]
    mails_exchange = env.settings.topology.internal
    async with tap(env.settings, mails_exchange, notifier.send_security.routing_key) as mails:
        assert (await env.call(v1.send_password_reset_token, {"username": user["username"]}))["ok"]
        # A barrier: a later request's mail leaves after the first's would have.
        assert (await env.call(v1.send_password_reset_token, {"username": other["username"]}))["ok"]
        await mails.wait_for(lambda b: b["to"] == other["email"])
        assert [b["to"] for b in mails.bodies()] == [other["email"]]
    await env.admin(admin.enable_user, {"id": user["id"]})
    assert (await env.login(user["username"]))["ok"]  # the old password stands
    body["token"] = await env.mailed_reset_token(user["username"])
    assert (await env.call(v1.reset_password_with_token, body))["ok"]


async def test_a_reset_by_code_still_works_while_disabled_and_opens_nothing(env):
    email = random_email()
    user = (await env.register_verified(email, login=False))["user"]
    await disable(env, user["id"])
    code = await env.code(email, "reset_password")
    reset = {"email": email, "code": code, "new_password": NEW_PASSWORD}
    assert (await env.call(v1.reset_password, reset))["ok"]
    relogin = await env.call(v1.login, {"email": email, "password": NEW_PASSWORD})
    assert error_code(relogin) == "account_disabled"


async def test_a_pending_two_factor_sign_in_is_revoked_and_a_new_one_refused(env):
    user = await env.register(login=True)
    token, phone = user["session"]["token"], valid_phone()
    start = {"token": token, "type": "phone", "contact": phone, "channel": "inbox-sms"}
    assert (await env.call(v1.start_contact_verification, start))["ok"]
    code = await env.inbox.code(phone)
    assert (await env.call(v1.confirm_contact, {"token": token, "code": code}))["ok"]
    assert (await env.call(v1.set_mfa, {"token": token, "enabled": True}))["ok"]
    challenge = (await env.login(user["user"]["username"]))["result"]
    assert challenge["mfa_required"] is True
    send = {"mfa_token": challenge["mfa_token"], "contact_id": "phone", "channel": "inbox-sms"}
    assert (await env.call(v1.send_mfa_code, send))["ok"]
    code = await env.inbox.code(phone)
    await disable(env, user["user"]["id"])
    verify = {"mfa_token": challenge["mfa_token"], "code": code}
    assert error_code(await env.call(v1.verify_mfa, verify)) == "token_invalid"
    # Refused before two-factor login asks for anything.
    assert error_code(await env.login(user["user"]["username"])) == "account_disabled"


async def test_a_disable_with_an_end_lets_the_user_back_when_it_passes(env):
    user = (await env.register(login=False))["user"]
    until = datetime.now(UTC) + timedelta(hours=1)
    shown = await disable(env, user["id"], until)
    assert shown["status"] == "disabled"
    refused = await env.login(user["username"])
    assert error_code(refused) == "account_disabled"
    stamp = refused["error"]["details"]["until"]
    assert datetime.fromisoformat(stamp) == until
    # The hour passes without waiting for it: the end moves into the past, nothing else.
    await env.identity.pool.execute(
        "UPDATE users SET disabled_until = now() - interval '1 second' WHERE public_id = $1",
        user["id"],
    )
    assert (await env.login(user["username"]))["ok"]  # no operator needed
    found = await env.admin(admin.find_user, {"id": user["id"]})
    assert found["result"]["user"]["status"] == "active"


async def test_enable_lets_the_user_back(env):
    user = (await env.register(login=False))["user"]
    await disable(env, user["id"])
    assert error_code(await env.login(user["username"])) == "account_disabled"
    assert (await env.admin(admin.enable_user, {"id": user["id"]}))["ok"]
    assert (await env.login(user["username"]))["ok"]


async def test_no_session_outlives_a_disable_that_races_sign_ins(env):
    """Sign-ins racing a disable either are refused or open a session the disable revokes:
    the gate reads the standing under a row lock the disable takes too."""
    user = (await env.register(login=False))["user"]
    logins = [asyncio.ensure_future(env.login(user["username"])) for _ in range(6)]
    disabling = asyncio.ensure_future(disable(env, user["id"]))
    replies = await asyncio.gather(*logins)
    await disabling
    assert {error_code(r) for r in replies} <= {None, "account_disabled"}
    for reply in replies:
        if reply["ok"]:
            token = reply["result"]["session"]["token"]
            assert error_code(await env.call(v1.authenticate, {"token": token})) == (
                "login_required"
            )
