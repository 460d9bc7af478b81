"""Channel kinds are checked before `ok` (issue 11, finding 9): a custom channel announces the
kind of recipient it reaches, and `send_code` refuses another kind at once, making no code."""

import time
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from contracts.verification import v1
from gatehouse import channels
from gatehouse.channels import CustomChannel, Kind
from gatehouse.rpc import RpcClient
from services.verification import store
from services.verification.app import build
from tests.support import (
    call,
    error_code,
    error_fields,
    eventually,
    inbox_channels,
    random_email,
    random_phone,
    running,
)


@pytest.fixture(scope="module")
async def env(make_settings):
    settings = make_settings(code_resend_cooldown_s=0, code_hourly_cap=1000)
    # Registrations are per namespace (this one is fresh); unique names all the same.
    suffix = uuid.uuid4().hex[:8]
    names: dict[Kind | None, str] = {
        "sms": f"sms-only-{suffix}",
        "email": f"email-only-{suffix}",
        None: f"any-{suffix}",
    }
    service = build(settings)
    async with (
        running(service),
        inbox_channels(settings, *((name, kind) for kind, name in names.items())) as inbox,
        RpcClient(settings.amqp_url.get_secret_value(), settings.topology, timeout_s=5) as rpc,
    ):
        yield SimpleNamespace(rpc=rpc, inbox=inbox, names=names, service=service)


async def send(env, send_to, channel):
    body = {"send_to": send_to, "scenario": "verify_contact", "channel": channel}
    return await call(env.rpc, v1.send_code, body)


async def no_live_code(env, send_to) -> bool:
    """True when check_code finds no code at all (a wrong code for a live one counts down)."""
    reply = await call(
        env.rpc, v1.check_code, {"send_to": send_to, "scenario": "verify_contact", "code": "000000"}
    )
    return error_code(reply) == "code_invalid" and "attempts_left" not in reply["error"]["details"]


async def refused_at_once(env, send_to, channel, needs):
    started = time.monotonic()
    reply = await send(env, send_to, channel)
    assert time.monotonic() - started < 1.0
    assert error_code(reply) == "invalid_params", reply
    assert error_fields(reply) == ["send_to"]
    assert f"needs {needs} for the {channel} channel" in reply["error"]["message"]
    assert await no_live_code(env, send_to)
    with pytest.raises(TimeoutError):
        await env.inbox.next(send_to, wait_s=0.5)


async def test_an_sms_channel_refuses_an_email_address_at_once_and_makes_no_code(env):
    await refused_at_once(env, random_email(), env.names["sms"], "phone")


async def test_an_email_channel_refuses_a_phone_number_at_once_and_makes_no_code(env):
    await refused_at_once(env, random_phone(), env.names["email"], "email")


async def test_an_email_channel_gets_email_codes_that_check_out(env):
    email = random_email()
    assert (await send(env, email, env.names["email"]))["ok"]
    code = await env.inbox.code(email)
    check = {"send_to": email, "scenario": "verify_contact", "code": code}
    assert (await call(env.rpc, v1.check_code, check))["ok"]


async def test_an_sms_channel_gets_phone_codes(env):
    phone = random_phone()
    assert (await send(env, phone, env.names["sms"]))["ok"]
    assert (await env.inbox.next(phone)).channel == env.names["sms"]


async def test_a_channel_without_a_kind_gets_every_recipient(env):
    email, phone = random_email(), random_phone()
    assert (await send(env, email, env.names[None]))["ok"]
    assert (await send(env, phone, env.names[None]))["ok"]
    await env.inbox.next(email)
    await env.inbox.next(phone)


async def test_a_new_announcement_changes_the_kind_at_once(env):
    name = env.names[None]
    register = v1.register_channel
    try:
        assert (await call(env.rpc, register, {"name": name, "kind": "sms"}))["ok"]
        assert error_code(await send(env, random_email(), name)) == "invalid_params"
    finally:
        assert (await call(env.rpc, register, {"name": name}))["ok"]
    email = random_email()
    assert (await send(env, email, name))["ok"]
    await env.inbox.next(email)


@pytest.mark.parametrize("name", ["email", "sms", "console", "Not A Name"])
async def test_a_built_in_or_malformed_name_cannot_be_registered(env, name):
    reply = await call(env.rpc, v1.register_channel, {"name": name, "kind": "sms"})
    assert error_code(reply) == "invalid_params"
    assert error_fields(reply) == ["name"]


def test_the_sdk_takes_a_channel_without_a_kind_and_refuses_a_built_in_name(monkeypatch):
    monkeypatch.setattr(channels, "_registered", [])

    async def handler(delivery: v1.Delivery) -> None:
        return None

    assert channels.custom_channel("no-kind-needed")(handler) is handler
    assert channels._registered == [CustomChannel("no-kind-needed", None, handler)]
    with pytest.raises(ValidationError):
        CustomChannel("sms", "sms", handler)


async def test_a_channel_nobody_announces_any_more_is_forgotten(env):
    pool = env.service.pool
    silent, alive = f"gone-{uuid.uuid4().hex[:8]}", env.names["sms"]
    await pool.execute(
        "INSERT INTO channels (name, kind, announced_at)"
        " VALUES ($1, 'sms', now() - interval '2 hours')",
        silent,
    )
    assert await store.retention.forget_silent_channels(pool, timedelta(hours=1)) >= 1
    kinds = await store.channels.channel_kinds(pool)
    assert silent not in kinds and kinds[alive] == "sms"


async def test_a_worker_announces_its_channels_again_while_it_runs(make_settings):
    settings = make_settings(channel_announce_interval_s=0.2)
    name = f"again-{uuid.uuid4().hex[:8]}"
    service = build(settings)
    sql = "SELECT announced_at FROM channels WHERE name = $1"
    async with running(service), inbox_channels(settings, (name, "email")):
        first = await service.pool.fetchval(sql, name)

        async def announced_again() -> bool:
            return await service.pool.fetchval(sql, name) > first

        await eventually(announced_again, timeout_s=5)
