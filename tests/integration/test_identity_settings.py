"""Identity behaviour that settings change, on one service started with non-defaults."""

import logging

import pytest

from contracts.identity import v1
from contracts.notifier import v1 as notifier
from tests.identity_support import env_settings, identity_env, tap
from tests.support import error_code, error_fields, eventually, random_email

PASSWORD = "twelve-chars-or-more"


@pytest.fixture(scope="module")
async def env(make_settings):
    settings = env_settings(
        make_settings,
        username_min_length=6,
        password_min_length=12,
        auto_login=False,
        reset_token_email_property="contactMail",
        reset_token_template="reset_mail",
    )
    async with identity_env(settings) as env:
        yield env


async def test_the_minimum_lengths_are_configurable(env):
    reply = await env.call(v1.register, {"username": "abcde", "password": "twelve-chars"})
    assert error_fields(reply) == ["username"]
    reply = await env.call(v1.register, {"username": "abcdef", "password": "eleven-char"})
    assert error_fields(reply) == ["password"]
    reply = await env.call(v1.validate_registration, {"username": "abcdefg"})
    assert reply["ok"], reply


async def test_auto_login_is_invalid_operation_when_the_feature_is_off(env):
    user = await env.register(password=PASSWORD)
    reply = await env.call(
        v1.login, {"username": user["user"]["username"], "password": PASSWORD, "remember": True}
    )
    assert reply["ok"] and reply["result"]["remember_token"] is None
    reply = await env.call(v1.auto_login, {"remember_token": "r" * 43})
    assert error_code(reply) == "invalid_operation"
    assert reply["error"]["status"] == 13


async def test_the_reset_mail_uses_the_configured_template_and_email_property(env):
    address = random_email()
    user = await env.register_verified(
        address, password=PASSWORD, properties={"contactMail": address}
    )
    async with tap(
        env.settings, env.settings.topology.internal, notifier.send_security.routing_key
    ) as m:
        await env.call(v1.send_password_reset_token, {"username": user["user"]["username"]})
        body = await m.wait_for(lambda b: b.get("to") == address)
    assert body["template"] == "reset_mail"
    assert set(body["data"]) == {"password_reset_token"}


async def test_without_a_notifier_the_mail_waits_in_the_outbox_and_leaves_once_one_binds(
    env, caplog
):
    caplog.set_level(logging.DEBUG)
    address = random_email()
    user = await env.register_verified(
        address, password=PASSWORD, properties={"contactMail": address}
    )
    reply = await env.call(v1.send_password_reset_token, {"username": user["user"]["username"]})
    assert reply == {"ok": True, "result": {"done": True}}
    # Unroutable while nothing serves notifier.send_security: kept, not dropped.
    await eventually(lambda: _waiting(env, address))
    async with tap(
        env.settings, env.settings.topology.internal, notifier.send_security.routing_key
    ) as m:
        body = await m.wait_for(lambda b: b.get("to") == address, wait_s=30)
    token = body["data"]["password_reset_token"]
    assert token not in caplog.text
    assert "password_reset_token" not in caplog.text
    await eventually(lambda: _gone(env, address))


async def _waiting(env, address: str) -> bool:
    return not await _gone(env, address)


async def _gone(env, address: str) -> bool:
    # A sent command may carry a secret: the relay deletes its row once confirmed.
    async with env.identity.pool.acquire() as con:
        left = await con.fetchval(
            "SELECT count(*) FROM outbox WHERE exchange IS NOT NULL"
            " AND position($1::bytea IN body) > 0",
            address.encode(),
        )
    return left == 0
