"""Password resets: by code, by mailed token (through notifier.send.v1), and the logs."""

import logging

import pytest

from contracts.identity import v1, v2
from contracts.notifier import v1 as notifier
from tests.identity_support import PASSWORD, env_settings, identity_env, tap
from tests.support import error_code, error_fields, random_email, random_username


@pytest.fixture(scope="module")
async def env(make_settings):
    settings = env_settings(
        make_settings, reset_mail_templates=["send_password_token", "custom_reset"]
    )
    async with (
        identity_env(settings) as env,
        tap(settings, settings.topology.internal, notifier.send_security.routing_key) as mails,
    ):
        env.mails = mails
        yield env


async def mailed_token(env, address: str) -> str:
    body = await env.mails.wait_for(lambda b: b.get("to") == address)
    assert body["channel"] == "email" and body["template"] == "send_password_token"
    return body["data"]["password_reset_token"]


async def test_a_mailed_token_resets_the_password_signs_in_and_works_once(env):
    email = random_email()
    user = await env.register_verified(email)
    reply = await env.call(v1.send_password_reset_token, {"username": user["user"]["username"]})
    assert reply == {"ok": True, "result": {"done": True}}
    token = await mailed_token(env, email)
    body = {"email": email, "token": token, "new_password": "fresh-password-3"}
    reply = await env.call(v1.reset_password_with_token, body)
    assert reply["ok"], reply
    assert reply["result"]["user"]["id"] == user["user"]["id"]
    assert (await env.call(v1.get_user, {"token": reply["result"]["session"]["token"]}))["ok"]
    # Earlier sessions are revoked, the old password is dead, the token is spent.
    assert error_code(await env.call(v1.get_user, {"token": user["session"]["token"]})) == (
        "login_required"
    )
    assert error_code(await env.call(v1.login, {"email": email, "password": PASSWORD})) == (
        "invalid_credentials"
    )
    replay = await env.call(v1.reset_password_with_token, body)
    assert error_code(replay) == "token_invalid"


async def test_a_token_does_not_reset_another_users_password(env):
    email = random_email()
    await env.register_verified(email)
    other = await env.register_verified(random_email())
    await env.call(v1.send_password_reset_token, {"email": email})
    token = await mailed_token(env, email)
    reply = await env.call(
        v1.reset_password_with_token,
        {"email": other["user"]["email"], "token": token, "new_password": "fresh-password-3"},
    )
    assert error_code(reply) == "token_invalid"


async def test_sending_a_reset_token_answers_the_same_for_an_unknown_user(env):
    known = await env.register(email=random_email())
    replies = [
        await env.call(v1.send_password_reset_token, {"username": name})
        for name in (known["user"]["username"], random_username())
    ]
    assert replies[0] == replies[1] == {"ok": True, "result": {"done": True}}


async def test_reset_by_code_revokes_every_session(env):
    email = random_email()
    user = await env.register_verified(email)
    code = await env.code(email, "reset_password")
    reply = await env.call(
        v1.reset_password, {"email": email, "code": code, "new_password": "fresh-password-4"}
    )
    assert reply["ok"], reply
    assert error_code(await env.call(v1.get_user, {"token": user["session"]["token"]})) == (
        "login_required"
    )
    assert (await env.call(v1.login, {"email": email, "password": "fresh-password-4"}))["ok"]


async def test_no_password_code_token_or_hash_reaches_the_logs(env, caplog):
    caplog.set_level(logging.DEBUG)
    email = random_email()
    secrets = [PASSWORD, "fresh-password-5", "wrong-password-5"]
    code = await env.code(email, "register")
    secrets.append(code)
    user = (
        await env.call(
            v1.register,
            {"email": email, "code": code, "password": PASSWORD, "login": True, "remember": True},
        )
    )["result"]
    secrets += [user["session"]["token"], user["remember_token"]]
    await env.call(v1.login, {"email": email, "password": "wrong-password-5"})
    await env.call(v1.login, {"email": email, "password": "bad password with spaces"})
    await env.call(v1.send_password_reset_token, {"email": email})
    token = await mailed_token(env, email)
    secrets.append(token)
    await env.call(
        v1.reset_password_with_token,
        {"email": email, "token": token, "new_password": "fresh-password-5"},
    )
    stored = await env.identity.pool.fetchval(
        "SELECT password_hash FROM credentials"
        " WHERE user_id = (SELECT id FROM users WHERE public_id = $1)",
        user["user"]["id"],
    )
    secrets.append(stored)
    secrets.append(stored.rsplit("$", 1)[-1])
    for secret in secrets:
        assert secret not in caplog.text


async def test_a_flood_of_reset_requests_leaves_the_first_token_valid(env):
    # Issue 11, finding 5: each new token voided the last, so a flood blocked a real reset.
    email = random_email()
    await env.register_verified(email)
    assert (await env.call(v1.send_password_reset_token, {"email": email}))["ok"]
    first = await mailed_token(env, email)
    for _ in range(3):
        assert (await env.call(v1.send_password_reset_token, {"email": email}))["ok"]
    body = {"email": email, "token": first, "new_password": "fresh-password-6"}
    assert (await env.call(v1.reset_password_with_token, body))["ok"]


async def test_the_mail_can_go_to_the_username_when_it_is_an_email_address(env):
    # Seed 004: sendPasswordResetToken(username, {emailPropertyName, templateName}); the
    # username is the address, and the account proved it (issue 22).
    address = random_email()
    await env.register_verified(address, username=address, login=False)
    body = {
        "username": address,
        "email_property_name": "_username",
        "template_name": "custom_reset",
    }
    assert (await env.call(v1.send_password_reset_token, body))["ok"]
    mail = await env.mails.wait_for(lambda b: b.get("to") == address)
    assert mail["template"] == "custom_reset"


async def test_a_bad_reset_token_answers_status_minus_32602_as_seed_004_says(env):
    # Seed 004: resetPasswordAndLogin's errors are -32602; the code stays `token_invalid`,
    # and the reply is the same for a known account and an unknown one.
    email = random_email()
    await env.register_verified(email)
    known = {"email": email, "token": "n0t-a-reset-token-" * 2, "new_password": "fresh-pass-7"}
    unknown = {**known, "email": random_email()}
    for command in (v1.reset_password_with_token, v2.reset_password_with_token):
        replies = [await env.call(command, body) for body in (known, unknown)]
        assert replies[0] == replies[1]
        assert (replies[0]["error"]["code"], replies[0]["error"]["status"]) == (
            "token_invalid",
            -32602,
        )
    # Another command's `token_invalid` keeps its status: a dead mfa token is 11.
    mfa = await env.call(v1.verify_mfa, {"mfa_token": "n0t-an-mfa-token-" * 2, "code": "123456"})
    assert (mfa["error"]["code"], mfa["error"]["status"]) == ("token_invalid", 11)


async def test_a_signed_in_user_gets_status_13_and_nothing_is_sent_or_counted(env):
    # Seed 004: sendPasswordResetToken is error 13 when the user has already logged in; the
    # caller says who is signed in by passing the session.
    email = random_email()
    user = await env.register_verified(email)
    signed_in = {"email": email, "token": user["session"]["token"]}
    for _ in range(env.settings.reset_mail_cap_per_identifier + 1):
        reply = await env.call(v1.send_password_reset_token, signed_in)
        assert reply["ok"] is False, reply
        assert (reply["error"]["code"], reply["error"]["status"]) == ("invalid_operation", 13)
        assert reply["error"]["details"] == {"signed_in": True}
    # Nothing was queued: a witness request queued after is mailed, ours never was.
    witness = random_email()
    await env.register_verified(witness, login=False)
    assert (await env.call(v1.send_password_reset_token, {"email": witness}))["ok"]
    await env.mails.wait_for(lambda b: b.get("to") == witness, wait_s=15)
    assert email not in [b.get("to") for b in env.mails.bodies()]
    # Nor counted: more refusals than the hourly cap, and the owner signed out still asks.
    assert (await env.call(v1.send_password_reset_token, {"email": email}))["ok"]
    await mailed_token(env, email)
    malformed = await env.call(v1.send_password_reset_token, {"email": email, "token": "x"})
    assert error_code(malformed) == "invalid_params" and error_fields(malformed) == ["token"]


async def test_a_dead_session_token_is_ignored_alike_for_known_and_unknown_users(env):
    email = random_email()
    user = await env.register_verified(email)
    dead = user["session"]["token"]
    assert (await env.call(v1.logout, {"token": dead}))["ok"]
    never_issued = "never-issued-session-token-000"
    bodies = [
        {"email": email, "token": dead},
        {"email": random_email(), "token": dead},
        {"username": random_username(), "token": never_issued},
    ]
    for body in bodies:
        reply = await env.call(v1.send_password_reset_token, body)
        assert reply == {"ok": True, "result": {"done": True}}
    await mailed_token(env, email)
