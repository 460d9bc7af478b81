"""Verification service on the real broker and database, driven only through messages."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from contracts.verification import v1
from gatehouse.rpc import RpcClient
from services.verification.app import build
from tests.fixtures.infrastructure import TEST_HMAC_KEY
from tests.support import (
    call,
    error_code,
    error_fields,
    inbox_channels,
    random_email,
    random_phone,
    running,
)


@pytest.fixture(scope="module")
async def env(make_settings):
    settings = make_settings(code_resend_cooldown_s=0, code_hourly_cap=1000)
    service = build(settings)
    async with (
        running(service),
        inbox_channels(settings, ("inbox", "email"), ("inbox-sms", "sms")) as inbox,
        RpcClient(settings.amqp_url.get_secret_value(), settings.topology, timeout_s=5) as rpc,
    ):
        yield rpc, inbox


async def send(rpc, send_to, scenario="login", channel="inbox"):
    return await call(
        rpc, v1.send_code, {"send_to": send_to, "scenario": scenario, "channel": channel}
    )


async def check(rpc, send_to, code, scenario="login"):
    """As identity checks a code: `redeem_code` takes every scenario (the public `check_code`
    refuses the sign-in ones; tests/integration/test_perimeter.py)."""
    body = {"send_to": send_to, "scenario": scenario, "code": code}
    return await call(rpc, v1.redeem_code, body)


async def test_a_sent_code_reaches_the_custom_channel_and_checks_out_once(env):
    rpc, inbox = env
    email = random_email()
    reply = await send(rpc, email, scenario="register")
    assert reply["ok"], reply
    assert set(reply["result"]) == {"expires_at", "resend_after"}
    delivery = await inbox.next(email)
    assert delivery.send_to == email
    assert delivery.scenario is v1.Scenario.register
    assert delivery.code.isdigit() and len(delivery.code) == 6
    assert delivery.channel == "inbox"
    assert (await check(rpc, email, delivery.code, "register")) == {
        "ok": True,
        "result": {"verified": True},
    }
    again = await check(rpc, email, delivery.code, "register")
    assert error_code(again) == "code_invalid"


async def test_a_code_does_not_pass_for_another_scenario(env):
    rpc, inbox = env
    email = random_email()
    await send(rpc, email, scenario="login")
    code = await inbox.code(email)
    assert error_code(await check(rpc, email, code, "reset_password")) == "code_invalid"
    assert (await check(rpc, email, code, "login"))["ok"]


async def test_email_addresses_are_normalised_before_storage_and_comparison(env):
    rpc, inbox = env
    email = random_email()
    assert (await send(rpc, "  " + email.upper() + " "))["ok"]
    code = await inbox.code(email)
    assert (await check(rpc, email.capitalize(), code))["ok"]


async def test_phone_numbers_are_normalised_to_e164(env):
    rpc, inbox = env
    phone = random_phone()
    spaced = f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    assert (await send(rpc, spaced, channel="inbox-sms"))["ok"]
    code = await inbox.code(phone)
    assert (await check(rpc, phone, code))["ok"]


async def test_five_wrong_codes_kill_the_code(env):
    rpc, inbox = env
    email = random_email()
    await send(rpc, email)
    code = await inbox.code(email)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    replies = [await check(rpc, email, wrong) for _ in range(5)]
    assert [error_code(r) for r in replies] == ["code_invalid"] * 4 + ["too_many_attempts"]
    assert [r["error"]["details"].get("attempts_left") for r in replies[:4]] == [4, 3, 2, 1]
    assert error_code(await check(rpc, email, code)) == "too_many_attempts"


async def test_a_new_code_voids_the_older_one(env):
    rpc, inbox = env
    email = random_email()
    await send(rpc, email)
    old = await inbox.code(email)
    await send(rpc, email)
    new = await inbox.code(email)
    if old != new:  # one in a million they are equal; the old one is void either way
        assert error_code(await check(rpc, email, old)) == "code_invalid"
    assert (await check(rpc, email, new))["ok"]


async def test_twenty_concurrent_checks_of_the_right_code_succeed_exactly_once(env):
    rpc, inbox = env
    email = random_email()
    await send(rpc, email)
    code = await inbox.code(email)
    replies = await asyncio.gather(*(check(rpc, email, code) for _ in range(20)))
    assert sum(r["ok"] for r in replies) == 1
    assert {error_code(r) for r in replies if not r["ok"]} == {"code_invalid"}


async def test_a_channel_nobody_consumes_is_delivery_unavailable_and_voids_the_code(env):
    rpc, inbox = env
    email = random_email()
    reply = await send(rpc, email, channel="nobody-listens")
    assert error_code(reply) == "delivery_unavailable"
    assert reply["error"]["status"] == 13
    # The voided, undelivered code does not hold up a retry through a working channel.
    assert (await send(rpc, email))["ok"]
    assert (await check(rpc, email, await inbox.code(email)))["ok"]


async def test_an_unknown_routing_key_is_unknown_command_at_once(env):
    rpc, _ = env
    loop = asyncio.get_running_loop()
    started = loop.time()
    reply = await call(rpc, "verification.send_code.v9", {"send_to": random_email()})
    assert error_code(reply) == "unknown_command"
    assert loop.time() - started < 2.5  # the RPC timeout is 5 s: this came back, not timed out


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json at all", "body"),
        (b"[1, 2, 3]", "body"),
        ({"scenario": "login", "channel": "inbox"}, "send_to"),
        ({"send_to": "a@example.com", "scenario": "login", "channel": "inbox", "x": 1}, "x"),
        ({"send_to": 42, "scenario": "login", "channel": "inbox"}, "send_to"),
        ({"send_to": "not-an-email@", "scenario": "login", "channel": "inbox"}, "send_to"),
        ({"send_to": "+44 12", "scenario": "login", "channel": "inbox-sms"}, "send_to"),
        ({"send_to": "a@example.com", "scenario": "teleport", "channel": "inbox"}, "scenario"),
        ({"send_to": "a@example.com", "scenario": "login", "channel": "Bad Name"}, "channel"),
        ({"send_to": "+447911123456", "scenario": "login", "channel": "email"}, "send_to"),
        (
            {"send_to": "x" * 10_000 + "@example.com", "scenario": "login", "channel": "inbox"},
            "send_to",
        ),
        (b'{"send_to": "' + b"a" * (1024 * 1024) + b'"}', "body"),
    ],
)
async def test_bad_input_is_invalid_params_naming_the_field(env, body, field):
    rpc, inbox = env
    reply = await call(rpc, v1.send_code, body)
    assert error_code(reply) == "invalid_params", reply
    assert reply["error"]["status"] == -32602
    assert field in error_fields(reply)
    # ...and the service still answers afterwards.
    email = random_email()
    assert (await send(rpc, email))["ok"]
    await inbox.code(email)


async def test_check_code_rejects_a_malformed_code_as_invalid_params(env):
    rpc, _ = env
    reply = await check(rpc, random_email(), "12ab56")
    assert error_code(reply) == "invalid_params"
    assert error_fields(reply) == ["code"]


async def test_an_idempotent_replay_returns_the_stored_reply_and_sends_nothing(env):
    rpc, inbox = env
    email = random_email()
    body = {"send_to": email, "scenario": "login", "channel": "inbox"}
    first = await call(rpc, v1.send_code, body, idempotency_key="send-1")
    code = await inbox.code(email)
    second = await call(rpc, v1.send_code, body, idempotency_key="send-1")
    assert second == first
    with pytest.raises(TimeoutError):
        await inbox.next(email, wait_s=0.5)
    assert (await check(rpc, email, code))["ok"]


async def test_concurrent_replays_of_one_idempotency_key_run_the_command_once(env):
    rpc, inbox = env
    email = random_email()
    body = {"send_to": email, "scenario": "bind", "channel": "inbox"}
    replies = await asyncio.gather(
        *(call(rpc, v1.send_code, body, idempotency_key="burst") for _ in range(10))
    )
    assert all(r == replies[0] for r in replies) and replies[0]["ok"]
    await inbox.code(email)
    with pytest.raises(TimeoutError):
        await inbox.next(email, wait_s=0.5)


async def test_no_code_appears_in_the_logs(env, caplog):
    rpc, inbox = env
    caplog.set_level(logging.DEBUG)
    email = random_email()
    await send(rpc, email)
    code = await inbox.code(email)
    await check(rpc, email, "000000" if code != "000000" else "111111")
    await check(rpc, email, code)
    assert code not in caplog.text
    assert TEST_HMAC_KEY not in caplog.text


async def test_resend_within_the_cooldown_is_rate_limited_with_retry_after(make_settings):
    settings = make_settings(code_resend_cooldown_s=60)
    service = build(settings)
    async with (
        running(service),
        inbox_channels(settings, ("inbox", "email")),
        RpcClient(settings.amqp_url.get_secret_value(), settings.topology) as rpc,
    ):
        email = random_email()
        assert (await send(rpc, email))["ok"]
        reply = await send(rpc, email)
        assert error_code(reply) == "rate_limited"
        assert 55 <= reply["error"]["details"]["retry_after_s"] <= 60
        # Another scenario for the same recipient has its own cooldown.
        assert (await send(rpc, email, scenario="bind"))["ok"]


async def test_the_hourly_cap_per_recipient_and_class_holds(make_settings):
    settings = make_settings(code_resend_cooldown_s=0, code_hourly_cap=3)
    service = build(settings)
    async with (
        running(service),
        inbox_channels(settings, ("inbox", "email")),
        RpcClient(settings.amqp_url.get_secret_value(), settings.topology) as rpc,
    ):
        email = random_email()
        scenarios = ["bind", "unbind", "register", "deregister"]
        replies = [await send(rpc, email, scenario=s) for s in scenarios]
        assert [error_code(r) for r in replies] == [None, None, None, "rate_limited"]
        assert 3590 <= replies[-1]["error"]["details"]["retry_after_s"] <= 3600


async def test_an_expired_code_is_code_expired(make_settings):
    settings = make_settings(code_ttl_s=60)
    service = build(settings)
    async with (
        running(service),
        inbox_channels(settings, ("inbox", "email")) as inbox,
        RpcClient(settings.amqp_url.get_secret_value(), settings.topology) as rpc,
    ):
        email = random_email()
        sent = await send(rpc, email)
        lifetime = datetime.fromisoformat(sent["result"]["expires_at"]) - datetime.now(UTC)
        assert timedelta(seconds=50) < lifetime <= timedelta(seconds=60)
        code = await inbox.code(email)
        # The minute passes without waiting for it: the code's end moves into the past.
        await service.pool.execute(
            "UPDATE codes SET expires_at = now() - interval '1 second' WHERE send_to = $1", email
        )
        assert error_code(await check(rpc, email, code)) == "code_expired"
