"""`admin.set_password_required`: the next sign-in must reset the password (issue 16).

What the gate answers, precisely: every sign-in whose credentials check out (password,
code, remember token, two-factor code) gets `password_reset_required` (status 13) and no
session; wrong credentials get what they always get. A reset by code sets the password and
lifts the requirement; a reset with a mailed token does the same and signs in.
"""

import pytest

from contracts.admin import v1 as admin
from contracts.identity import v1
from tests.identity_support import env_settings, identity_env, tap
from tests.support import error_code, random_email

NEW_PASSWORD = "another-horse-2"


@pytest.fixture(scope="module")
async def env(make_settings):
    async with identity_env(env_settings(make_settings)) as env:
        yield env


async def require_reset(env, user_id: str) -> dict:
    reply = await env.admin(admin.set_password_required, {"id": user_id, "reason": "leaked"})
    assert reply["ok"], reply
    return reply["result"]["user"]


async def test_every_sign_in_is_refused_until_the_password_is_reset_by_code(env):
    email = random_email()
    user = await env.register_verified(email, remember=True)
    uid, username = user["user"]["id"], user["user"]["username"]
    async with tap(env.settings, env.settings.topology.events) as events:
        shown = await require_reset(env, uid)
        revoked = await events.event("user.sessions_revoked.v1", uid)
    assert shown["password_reset_required"] is True and shown["status"] == "active"
    assert revoked["data"]["cause"] == "password_reset_required"
    assert revoked["data"]["revoked_session_ids"]
    # Signed out everywhere: what the old password opened is not trusted either.
    gone = await env.call(v1.authenticate, {"token": user["session"]["token"]})
    assert error_code(gone) == "login_required"
    auto = await env.call(v1.auto_login, {"remember_token": user["remember_token"]})
    assert error_code(auto) == "login_required"

    right = await env.login(username)
    assert error_code(right) == "password_reset_required" and right["error"]["status"] == 13
    wrong = await env.call(v1.login, {"username": username, "password": "not-it-at-all"})
    assert error_code(wrong) == "invalid_credentials"
    code = await env.code(email, "login")
    by_code = await env.call(v1.login, {"email": email, "code": code})
    assert error_code(by_code) == "password_reset_required"

    code = await env.code(email, "reset_password")
    reset = {"email": email, "code": code, "new_password": NEW_PASSWORD}
    assert (await env.call(v1.reset_password, reset))["ok"]
    relogin = await env.call(v1.login, {"username": username, "password": NEW_PASSWORD})
    assert relogin["ok"], relogin
    found = await env.admin(admin.find_user, {"id": uid})
    assert found["result"]["user"]["password_reset_required"] is False


async def test_a_mailed_reset_token_resets_and_signs_in(env):
    user = (await env.register_verified(random_email(), login=False))["user"]
    token = await env.mailed_reset_token(user["username"])
    await require_reset(env, user["id"])  # outstanding reset tokens stay: the way back in
    assert error_code(await env.login(user["username"])) == "password_reset_required"
    body = {"username": user["username"], "token": token, "new_password": NEW_PASSWORD}
    reply = await env.call(v1.reset_password_with_token, body)
    assert reply["ok"], reply
    assert reply["result"]["session"]["token"]
    again = await env.call(v1.login, {"username": user["username"], "password": NEW_PASSWORD})
    assert again["ok"], again


async def test_a_disabled_account_that_also_owes_a_reset_is_told_it_is_disabled(env):
    user = (await env.register(login=False))["user"]
    await require_reset(env, user["id"])
    await env.admin(admin.disable_user, {"id": user["id"], "reason": "both"})
    assert error_code(await env.login(user["username"])) == "account_disabled"
