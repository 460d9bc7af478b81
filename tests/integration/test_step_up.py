"""Step-up for what takes an account (issue 22, point 3), as someone holding a stolen session
token would try it: a session whose sign-in is old (or that came from a remember token) cannot
turn two-factor login off, bind or verify a new contact, remove one, or re-point the reset
mail; with a fresh sign-in or the password in the request the owner can. Guessing the
password through change_password or deregister is counted like a sign-in."""

import pytest

from contracts.identity import v1
from services.identity.domain import token_digest
from tests.identity_support import PASSWORD, env_settings, identity_env
from tests.support import error_code, random_email

RESET_PROPERTY = "backupEmail"
MAX_FAILURES = 3


@pytest.fixture(scope="module")
async def env(make_settings):
    settings = env_settings(
        make_settings,
        mfa="optional",
        login_max_failures=MAX_FAILURES,
        reset_token_email_property=RESET_PROPERTY,
    )
    async with identity_env(settings) as env:
        yield env


async def stolen(env, token: str, hours: float = 1) -> str:
    """The session as a thief holds it: its sign-in `hours` ago, long out of the window."""
    await env.identity.pool.execute(
        "UPDATE sessions SET proved_at = proved_at - make_interval(secs => $2)"
        " WHERE token_hash = $1",
        token_digest(token),
        hours * 3600,
    )
    return token


async def verified_user(env) -> tuple[dict, str]:
    email = random_email()
    user = await env.register(email=email, code=await env.code(email, "register"))
    assert user["user"]["email_verified"], user
    return user, email


async def me(env, token: str) -> dict:
    reply = await env.call(v1.get_user, {"token": token})
    assert reply["ok"], reply
    return reply["result"]["user"]


async def test_a_stolen_session_cannot_turn_two_factor_login_off(env):
    user, _ = await verified_user(env)
    token = user["session"]["token"]
    assert (await env.call(v1.set_mfa, {"token": token, "enabled": True}))["ok"]
    await stolen(env, token)
    reply = await env.call(v1.set_mfa, {"token": token, "enabled": False})
    assert error_code(reply) == "reauthentication_required"
    assert (await me(env, token))["mfa_enabled"] is True
    wrong = await env.call(v1.set_mfa, {"token": token, "enabled": False, "password": "nope-nope"})
    assert error_code(wrong) == "invalid_credentials"
    # The owner, who knows the password, can.
    right = await env.call(v1.set_mfa, {"token": token, "enabled": False, "password": PASSWORD})
    assert right["ok"] and right["result"]["user"]["mfa_enabled"] is False


async def test_after_a_fresh_two_factor_sign_in_the_owner_turns_it_off_without_the_password(env):
    user, email = await verified_user(env)
    old = user["session"]["token"]
    assert (await env.call(v1.set_mfa, {"token": old, "enabled": True}))["ok"]
    await stolen(env, old)
    challenge = (await env.login(user["user"]["username"]))["result"]
    sent = await env.call(
        v1.send_mfa_code,
        {"mfa_token": challenge["mfa_token"], "contact_id": "email", "channel": "inbox"},
    )
    assert sent["ok"], sent
    code = await env.inbox.code(email)
    signed = await env.call(v1.verify_mfa, {"mfa_token": challenge["mfa_token"], "code": code})
    assert signed["ok"], signed
    fresh = signed["result"]["session"]["token"]
    reply = await env.call(v1.set_mfa, {"token": fresh, "enabled": False})
    assert reply["ok"], reply


async def test_a_stolen_session_cannot_bind_a_new_email_or_remove_one(env):
    user, email = await verified_user(env)
    token = await stolen(env, user["session"]["token"])
    intruder = random_email()
    code = await env.code(intruder, "bind")
    reply = await env.call(v1.bind_contact, {"token": token, "email": intruder, "code": code})
    assert error_code(reply) == "reauthentication_required"
    assert (await me(env, token))["email"] == email
    unbind = await env.call(
        v1.unbind_contact,
        {"token": token, "contact_type": "email", "code": await env.code(email, "unbind")},
    )
    assert error_code(unbind) == "reauthentication_required"
    # The refusal came before the code was checked: with the password it still binds.
    reply = await env.call(
        v1.bind_contact, {"token": token, "email": intruder, "code": code, "password": PASSWORD}
    )
    assert reply["ok"], reply


async def test_a_stolen_session_cannot_start_or_confirm_verifying_a_new_contact(env):
    user, _ = await verified_user(env)
    token = user["session"]["token"]
    intruder = random_email()
    body = {"token": token, "type": "email", "contact": intruder, "channel": "inbox"}
    # The owner starts it on a fresh session; the thief holding it later cannot confirm it,
    # nor start another.
    assert (await env.call(v1.start_contact_verification, body))["ok"]
    code = await env.inbox.code(intruder)
    await stolen(env, token)
    started = await env.call(v1.start_contact_verification, {**body, "contact": random_email()})
    assert error_code(started) == "reauthentication_required"
    confirm = await env.call(v1.confirm_contact, {"token": token, "code": code})
    assert error_code(confirm) == "reauthentication_required"
    confirm = await env.call(
        v1.confirm_contact, {"token": token, "code": code, "password": PASSWORD}
    )
    assert confirm["ok"] and confirm["result"]["user"]["email"] == intruder


async def test_a_stolen_session_cannot_re_point_the_reset_mail(env):
    user, _ = await verified_user(env)
    token = await stolen(env, user["session"]["token"])
    intruder = random_email()
    reply = await env.call(
        v1.save_properties, {"token": token, "properties": {RESET_PROPERTY: intruder}}
    )
    assert error_code(reply) == "reauthentication_required"
    reply = await env.call(
        v1.save_property, {"token": token, "name": RESET_PROPERTY, "value": intruder}
    )
    assert error_code(reply) == "reauthentication_required"
    props = await env.call(v1.get_properties, {"token": token})
    assert RESET_PROPERTY not in props["result"]["properties"]
    # The user's other properties are theirs to change on any session.
    other = await env.call(v1.save_property, {"token": token, "name": "nickname", "value": "x"})
    assert other["ok"], other
    reply = await env.call(
        v1.save_property,
        {"token": token, "name": RESET_PROPERTY, "value": intruder, "password": PASSWORD},
    )
    assert reply["ok"], reply


async def test_a_session_from_a_remember_token_is_no_fresh_proof(env):
    user, _ = await verified_user(env)
    signed = await env.login(user["user"]["username"], remember=True)
    remember = signed["result"]["remember_token"]
    # The sign-in that proved the password was long ago; the auto-login is now.
    await env.identity.pool.execute(
        "UPDATE remember_tokens SET proved_at = proved_at - interval '1 day' WHERE token_hash = $1",
        token_digest(remember),
    )
    auto = await env.call(v1.auto_login, {"remember_token": remember})
    assert auto["ok"], auto
    intruder = random_email()
    reply = await env.call(
        v1.bind_contact,
        {
            "token": auto["result"]["session"]["token"],
            "email": intruder,
            "code": await env.code(intruder, "bind"),
        },
    )
    assert error_code(reply) == "reauthentication_required"


async def test_guessing_the_password_through_change_password_is_throttled(env):
    user, _ = await verified_user(env)
    token = await stolen(env, user["session"]["token"])
    for n in range(MAX_FAILURES):
        reply = await env.call(
            v1.change_password,
            {"token": token, "old_password": f"guess-{n:04}", "new_password": "taken-over-1"},
        )
        assert error_code(reply) == "invalid_credentials"
    # Beyond the limit even the right password is refused, unchecked, for the window.
    reply = await env.call(
        v1.change_password,
        {"token": token, "old_password": PASSWORD, "new_password": "taken-over-1"},
    )
    assert error_code(reply) == "too_many_attempts"
    assert 0 < reply["error"]["details"]["retry_after_s"] <= 900
    assert (await env.login(user["user"]["username"]))["ok"]  # the password did not change


async def test_guessing_the_password_through_deregister_is_throttled(env):
    user, _ = await verified_user(env)
    token = await stolen(env, user["session"]["token"])
    for n in range(MAX_FAILURES):
        reply = await env.call(v1.deregister, {"token": token, "password": f"guess-{n:04}"})
        assert error_code(reply) == "invalid_credentials"
    reply = await env.call(v1.deregister, {"token": token, "password": PASSWORD})
    assert error_code(reply) == "too_many_attempts"
    assert (await me(env, token))["id"] == user["user"]["id"]  # still there


async def test_the_right_password_clears_the_count(env):
    user, _ = await verified_user(env)
    token = user["session"]["token"]
    for n in range(MAX_FAILURES - 1):
        await env.call(v1.set_mfa, {"token": token, "enabled": False, "password": f"g-{n:06}"})
    ok = await env.call(v1.set_mfa, {"token": token, "enabled": False, "password": PASSWORD})
    assert ok["ok"], ok
    for n in range(MAX_FAILURES):
        reply = await env.call(
            v1.set_mfa, {"token": token, "enabled": False, "password": f"h-{n:06}"}
        )
        assert error_code(reply) == "invalid_credentials"
