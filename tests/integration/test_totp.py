"""Authenticator apps (TOTP, RFC 6238) as a second factor (issue 24): enrol, confirm with a
first code, sign in with a code held back by the gate, each code accepted once, remove with a
step-up. Codes come from pyotp at chosen times; the service checks them at a time the test
sets (`IdentityService.now`), so no test sleeps or races a 30-second boundary."""

import asyncio
import logging
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest

from contracts.identity import v1, v2
from services.identity import authenticator
from services.identity.domain import token_digest
from services.identity.service import IdentityService
from tests.identity_support import PASSWORD, env_settings, identity_env, tap
from tests.support import error_code, random_email

MAX_ATTEMPTS = 3
STEP = 30
# Mid-step, so a code of the step before and after is one step away.
NOW = 1_900_000_005.0 + STEP / 2


@pytest.fixture(scope="module")
async def env(make_settings):
    settings = env_settings(make_settings, mfa="optional", mfa_max_attempts=MAX_ATTEMPTS)
    async with identity_env(settings) as env:
        yield env


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """The service checks codes at NOW."""
    monkeypatch.setattr(IdentityService, "now", lambda self: NOW)


def code(secret: str, steps: int = 0) -> str:
    """The app's code `steps` time steps from NOW."""
    return pyotp.TOTP(secret).at(NOW + steps * STEP)


async def ok(env, command, body) -> dict:
    reply = await env.call(command, body)
    assert reply["ok"], reply
    return reply["result"]


async def enrolled(env) -> tuple[dict, str]:
    """A signed-in user with a confirmed authenticator app, and its secret. The confirming
    code is NOW's: the next sign-in uses another."""
    user = await env.register()
    token = user["session"]["token"]
    secret = (await ok(env, v1.enroll_totp, {"token": token}))["secret"]
    await ok(env, v1.confirm_totp, {"token": token, "code": code(secret)})
    return user, secret


async def held_back(env, username: str) -> str:
    result = await ok(env, v1.login, {"username": username, "password": PASSWORD})
    assert result["mfa_required"] is True and result["session"] is None, result
    assert result["totp"] is True
    return result["mfa_token"]


def verify(mfa_token: str, totp_code: str) -> dict:
    return {"mfa_token": mfa_token, "code": totp_code, "factor": "totp"}


async def test_enrol_confirm_then_a_sign_in_is_held_back_until_the_app_code(env):
    user = await env.register()
    token, username = user["session"]["token"], user["user"]["username"]
    enrolment = await ok(env, v1.enroll_totp, {"token": token})
    uri = urlparse(enrolment["otpauth_uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert uri.path == f"/Gatehouse:{username}"
    assert parse_qs(uri.query) == {"secret": [enrolment["secret"]], "issuer": ["Gatehouse"]}
    # Pending: a sign-in is not held back yet.
    elsewhere = (await env.login(username))["result"]["session"]["token"]
    async with tap(env.settings, env.settings.topology.events) as events:
        await ok(env, v1.confirm_totp, {"token": token, "code": code(enrolment["secret"])})
        added = await events.event("user.factor_added.v1", user["user"]["id"])
    assert added["data"]["factor"] == "totp"
    # The other session proved no second factor: it went, as when set_mfa turns it on.
    assert len(added["data"]["revoked_session_ids"]) == 1
    assert error_code(await env.call(v1.get_user, {"token": elsewhere})) == "login_required"
    assert (await env.call(v1.get_user, {"token": token}))["ok"]
    mfa_token = await held_back(env, username)
    async with tap(env.settings, env.settings.topology.events) as events:
        signed = await ok(env, v1.verify_mfa, verify(mfa_token, code(enrolment["secret"], 1)))
        logged_in = await events.event("user.logged_in.v1", user["user"]["id"])
    assert logged_in["data"]["method"] == "totp"
    me = await ok(env, v1.get_user, {"token": signed["session"]["token"]})
    assert me["user"]["id"] == user["user"]["id"]


async def test_a_confirmed_app_cannot_be_enrolled_again_and_its_secret_is_not_shown_again(env):
    user, _ = await enrolled(env)
    reply = await env.call(v1.enroll_totp, {"token": user["session"]["token"]})
    assert error_code(reply) == "invalid_operation"


async def test_a_wrong_code_or_one_out_of_the_window_is_refused(env):
    user, secret = await enrolled(env)
    mfa_token = await held_back(env, user["user"]["username"])
    wrong = "000000" if code(secret, 1) != "000000" else "111111"
    assert error_code(await env.call(v1.verify_mfa, verify(mfa_token, wrong))) == "code_invalid"
    too_old = await env.call(v1.verify_mfa, verify(mfa_token, code(secret, -2)))
    assert error_code(too_old) == "code_invalid"
    # One step either side is clock drift: the next step's code is taken.
    assert (await env.call(v1.verify_mfa, verify(mfa_token, code(secret, 1))))["ok"]


async def test_a_code_is_accepted_once(env):
    user, secret = await enrolled(env)
    username = user["user"]["username"]
    # The code that confirmed the app spent its step.
    replayed = await env.call(v1.verify_mfa, verify(await held_back(env, username), code(secret)))
    assert error_code(replayed) == "code_invalid"
    assert (await env.call(v1.verify_mfa, verify(await held_back(env, username), code(secret, 1))))[
        "ok"
    ]
    again = await env.call(v1.verify_mfa, verify(await held_back(env, username), code(secret, 1)))
    assert error_code(again) == "code_invalid"
    # An older step than the last accepted one is a replay too, even inside the window.
    older = await env.call(v1.verify_mfa, verify(await held_back(env, username), code(secret, -1)))
    assert error_code(older) == "code_invalid"


async def test_concurrent_sign_ins_with_one_code_open_one_session(env):
    user, secret = await enrolled(env)
    username = user["user"]["username"]
    tokens = [await held_back(env, username) for _ in range(4)]
    same = code(secret, 1)
    replies = await asyncio.gather(*(env.call(v1.verify_mfa, verify(t, same)) for t in tokens))
    assert sum(r["ok"] for r in replies) == 1, replies
    assert {error_code(r) for r in replies if not r["ok"]} == {"code_invalid"}


async def test_attempts_are_limited_per_mfa_token(env):
    user, secret = await enrolled(env)
    mfa_token = await held_back(env, user["user"]["username"])
    wrong = "000000" if code(secret, 1) != "000000" else "111111"
    for _ in range(MAX_ATTEMPTS):
        assert error_code(await env.call(v1.verify_mfa, verify(mfa_token, wrong))) == "code_invalid"
    over = await env.call(v1.verify_mfa, verify(mfa_token, code(secret, 1)))
    assert error_code(over) == "too_many_attempts"


async def test_a_totp_code_for_an_account_without_an_app_is_refused(env):
    user = await env.register_verified(random_email())
    await ok(env, v1.set_mfa, {"token": user["session"]["token"], "enabled": True})
    result = await ok(env, v1.login, {"username": user["user"]["username"], "password": PASSWORD})
    assert result["totp"] is False
    reply = await env.call(v1.verify_mfa, verify(result["mfa_token"], "123456"))
    assert error_code(reply) == "invalid_operation"


async def test_a_malformed_code_is_invalid_params_naming_the_field(env):
    user = await env.register()
    token = user["session"]["token"]
    await ok(env, v1.enroll_totp, {"token": token})
    for bad in ("12345", "1234567", "12a456"):
        reply = await env.call(v1.confirm_totp, {"token": token, "code": bad})
        assert error_code(reply) == "invalid_params"
        assert reply["error"]["details"]["fields"][0]["field"] == "code"
    reply = await env.call(v1.verify_mfa, verify("Zx8v3mXo2l0yq3Qw7m3vJ9Gm8w2k", "12345"))
    assert error_code(reply) == "invalid_params"
    assert reply["error"]["details"]["fields"][0]["field"] == "code"


async def test_confirming_without_a_pending_app_is_refused(env):
    user = await env.register()
    reply = await env.call(v1.confirm_totp, {"token": user["session"]["token"], "code": "123456"})
    assert error_code(reply) == "invalid_operation"


async def stolen(env, token: str) -> None:
    """The session as a thief holds it: its sign-in long out of the step-up window."""
    await env.identity.pool.execute(
        "UPDATE sessions SET proved_at = proved_at - interval '1 day' WHERE token_hash = $1",
        token_digest(token),
    )


async def test_enrolling_from_an_old_session_needs_the_password(env):
    user = await env.register()
    token = user["session"]["token"]
    await stolen(env, token)
    reply = await env.call(v1.enroll_totp, {"token": token})
    assert error_code(reply) == "reauthentication_required"
    assert (await env.call(v1.enroll_totp, {"token": token, "password": PASSWORD}))["ok"]


async def test_removing_needs_a_step_up_then_sign_in_is_not_held_back(env):
    user, _ = await enrolled(env)
    token, username = user["session"]["token"], user["user"]["username"]
    await stolen(env, token)
    refused = await env.call(v1.remove_totp, {"token": token})
    assert error_code(refused) == "reauthentication_required"
    async with tap(env.settings, env.settings.topology.events) as events:
        await ok(env, v1.remove_totp, {"token": token, "password": PASSWORD})
        removed = await events.event("user.factor_removed.v1", user["user"]["id"])
    assert removed["data"]["factor"] == "totp"
    assert (await env.login(username))["result"]["session"] is not None
    again = await env.call(v1.remove_totp, {"token": token, "password": PASSWORD})
    assert error_code(again) == "invalid_operation"


async def test_the_secret_is_sealed_and_never_in_logs_events_or_later_replies(env, caplog):
    caplog.set_level(logging.DEBUG)
    async with tap(env.settings, env.settings.topology.events) as events:
        user = await env.register()
        token = user["session"]["token"]
        secret = (await ok(env, v1.enroll_totp, {"token": token}))["secret"]
        replies = [await env.call(v1.confirm_totp, {"token": token, "code": code(secret)})]
        mfa_token = await held_back(env, user["user"]["username"])
        replies.append(await env.call(v1.verify_mfa, verify(mfa_token, code(secret, 1))))
        replies.append(await env.call(v1.get_user, {"token": token}))
        replies.append(await env.call(v1.remove_totp, {"token": token}))
        await events.event("user.factor_removed.v1", user["user"]["id"])
        seen = [m.body.decode() for m in events.messages]
    assert all(r["ok"] for r in replies), replies
    for text in [*seen, *map(str, replies), caplog.text]:
        assert secret not in text
    # At rest, only sealed under GATEHOUSE_TOTP_KEY, and bound to its user.
    other = await env.register()
    secret = (await ok(env, v1.enroll_totp, {"token": other["session"]["token"]}))["secret"]
    row = await env.identity.pool.fetchrow(
        "SELECT u.id, t.secret_sealed FROM totp_authenticators t JOIN users u ON u.id = t.user_id"
        " WHERE u.public_id = $1",
        other["user"]["id"],
    )
    sealed, key = bytes(row["secret_sealed"]), env.settings.totp_seal_key
    assert secret.encode() not in sealed
    assert authenticator.unseal(key, row["id"], sealed) == secret
    with pytest.raises(authenticator.SealedSecretError):
        authenticator.unseal(key, row["id"] + 1, sealed)


async def test_a_password_reset_sign_in_is_held_back_for_the_app_too(env):
    user = await env.register_verified(random_email())
    token, username = user["session"]["token"], user["user"]["username"]
    secret = (await ok(env, v1.enroll_totp, {"token": token}))["secret"]
    await ok(env, v1.confirm_totp, {"token": token, "code": code(secret)})
    body = {
        "username": username,
        "token": await env.mailed_reset_token(username),
        "new_password": "another-horse-2",
    }
    result = await ok(env, v2.reset_password_with_token, body)
    assert result["mfa_required"] is True and result["totp"] is True
    signed = await ok(env, v1.verify_mfa, verify(result["mfa_token"], code(secret, 1)))
    assert signed["session"]["token"]


async def test_a_remember_token_from_a_totp_sign_in_needs_no_new_code(env):
    user, secret = await enrolled(env)
    login = {"username": user["user"]["username"], "password": PASSWORD, "remember": True}
    held = await ok(env, v1.login, login)
    signed = await ok(env, v1.verify_mfa, verify(held["mfa_token"], code(secret, 1)))
    again = await ok(env, v1.auto_login, {"remember_token": signed["remember_token"]})
    assert again["session"]["token"]
