"""Common passwords are refused on every path that sets a password (NIST SP 800-63B), as an
attacker who sprays `password1` across accounts would want them accepted."""

import logging

import pytest

from contracts.identity import v1, v2
from contracts.notifier import v1 as notifier
from tests.identity_support import PASSWORD, env_settings, identity_env, tap
from tests.support import error_code, error_fields, random_email, random_username

COMMON = ["password1", "qwerty123", "Password1", "QWERTY123"]


@pytest.fixture(scope="module")
async def env(make_settings):
    settings = env_settings(make_settings)
    async with (
        identity_env(settings) as env,
        tap(settings, settings.topology.internal, notifier.send_security.routing_key) as mails,
    ):
        env.mails = mails
        yield env


async def verified_user(env):
    """A user whose email a code proved, so that every reset path reaches it."""
    email = random_email()
    code = await env.code(email, "register")
    user = await env.register(email=email, code=code)
    return user, email


def refused(reply, field):
    assert error_code(reply) == "password_too_common", reply
    assert reply["error"]["status"] == -32602
    assert error_fields(reply) == [field]
    return True


@pytest.mark.parametrize("password", COMMON)
async def test_register_refuses_a_common_password(env, password, caplog):
    caplog.set_level(logging.DEBUG)
    username = random_username()
    body = {"username": username, "password": password}
    assert refused(await env.call(v1.register, body), "password")
    assert refused(await env.call(v1.validate_registration, body), "password")
    # Nothing was created, and the password is in no log line.
    reply = await env.call(v1.login, {"username": username, "password": password})
    assert error_code(reply) == "invalid_credentials"
    assert password not in caplog.text


async def test_a_strong_password_is_accepted(env):
    user = await env.register(password="violet-anchor-toffee-71")
    reply = await env.call(
        v1.login, {"username": user["user"]["username"], "password": "violet-anchor-toffee-71"}
    )
    assert reply["ok"], reply


@pytest.mark.parametrize("password", ["password1", "qwerty123"])
async def test_change_password_refuses_a_common_password(env, password):
    user = await env.register()
    token = user["session"]["token"]
    reply = await env.call(
        v1.change_password, {"token": token, "old_password": PASSWORD, "new_password": password}
    )
    assert refused(reply, "new_password")
    assert (await env.login(user["user"]["username"]))["ok"]


@pytest.mark.parametrize("password", ["password1", "qwerty123"])
async def test_reset_by_code_refuses_a_common_password_and_keeps_the_code(env, password):
    _, email = await verified_user(env)
    code = await env.code(email, "reset_password")
    body = {"email": email, "code": code, "new_password": password}
    assert refused(await env.call(v1.reset_password, body), "new_password")
    # The refusal came before the code was checked: the owner retries with the same code.
    body["new_password"] = "violet-anchor-toffee-72"
    assert (await env.call(v1.reset_password, body))["ok"]


@pytest.mark.parametrize("command", [v1.reset_password_with_token, v2.reset_password_with_token])
async def test_reset_by_token_refuses_a_common_password(env, command):
    user, email = await verified_user(env)
    reply = await env.call(v1.send_password_reset_token, {"email": email})
    assert reply["ok"], reply
    body = await env.mails.wait_for(lambda b: b.get("to") == email)
    token = body["data"]["password_reset_token"]
    for password in ("password1", "qwerty123"):
        reply = await env.call(command, {"email": email, "token": token, "new_password": password})
        assert refused(reply, "new_password")
    reply = await env.call(
        command, {"email": email, "token": token, "new_password": "violet-anchor-toffee-73"}
    )
    assert reply["ok"], reply
    assert reply["result"]["user"]["id"] == user["user"]["id"]


async def test_the_check_is_off_when_the_setting_says_so(make_settings):
    settings = env_settings(make_settings, password_common_check=False)
    async with identity_env(settings, with_verification=False) as env:
        user = await env.register(password="password1")
        reply = await env.call(
            v1.change_password,
            {"token": user["session"]["token"], "old_password": "password1",
             "new_password": "qwerty123"},
        )  # fmt: skip
        assert reply["ok"], reply
