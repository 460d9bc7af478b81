"""Codes per purpose: the hourly send cap counts per recipient and scenario class, so nobody
can deny an owner their sign-in, second-factor or reset codes by asking for other codes."""

import asyncio
from contextlib import asynccontextmanager

from contracts.identity import v1 as identity
from contracts.verification import v1
from gatehouse.rpc import RpcClient
from services.verification.app import build
from tests.identity_support import PASSWORD, env_settings, identity_env, valid_phone
from tests.support import call, error_code, inbox_channels, random_email, running

ACCOUNT_CLASS = ["register", "bind", "verify_contact", "unbind", "deregister"]


async def send(rpc, send_to, scenario, channel="inbox"):
    # Second-factor codes are sent by identity only, through issue_code on the internal
    # exchange, as it does for a sign-in whose password was right.
    command = v1.issue_code if scenario == "two_factor" else v1.send_code
    return await call(rpc, command, {"send_to": send_to, "scenario": scenario, "channel": channel})


async def check(rpc, send_to, code, scenario):
    # redeem_code: sign-in codes are redeemed by identity only, on the internal exchange.
    return await call(rpc, v1.redeem_code, {"send_to": send_to, "scenario": scenario, "code": code})


@asynccontextmanager
async def verification(settings):
    url = settings.amqp_url.get_secret_value()
    async with (
        running(build(settings)),
        inbox_channels(settings, ("inbox", "email")) as inbox,
        RpcClient(url, settings.topology, timeout_s=5) as rpc,
    ):
        yield rpc, inbox


async def test_ten_register_codes_for_an_address_do_not_block_its_sign_in_codes(make_settings):
    # The default cap (10), no cooldown: the attacker asks for as many codes as they may.
    settings = make_settings(code_resend_cooldown_s=0)
    async with verification(settings) as (rpc, inbox):
        victim = random_email()
        flood = [await send(rpc, victim, "register") for _ in range(10)]
        assert all(r["ok"] for r in flood), flood
        assert error_code(await send(rpc, victim, "register")) == "rate_limited"
        for _ in flood:
            await inbox.code(victim)
        # The owner still gets, and can use, every code that signs them in.
        for scenario in ("two_factor", "login", "reset_password"):
            assert (await send(rpc, victim, scenario))["ok"], scenario
            assert (await check(rpc, victim, await inbox.code(victim), scenario))["ok"]


async def test_a_flood_of_sign_in_codes_does_not_block_registration_or_binding(make_settings):
    settings = make_settings(code_resend_cooldown_s=0, code_hourly_cap=2)
    async with verification(settings) as (rpc, inbox):
        email = random_email()
        replies = [await send(rpc, email, s) for s in ("login", "reset_password", "login")]
        assert [error_code(r) for r in replies] == [None, None, "rate_limited"]
        # Nor the second factor, which only someone past the password can ask for.
        assert (await send(rpc, email, "two_factor"))["ok"]
        assert (await send(rpc, email, "bind"))["ok"]
        assert (await send(rpc, email, "register"))["ok"]
        assert error_code(await send(rpc, email, "verify_contact")) == "rate_limited"
        assert len([await inbox.code(email) for _ in range(5)]) == 5


async def test_concurrent_senders_stop_exactly_at_the_cap_of_the_class(make_settings):
    settings = make_settings(code_resend_cooldown_s=0, code_hourly_cap=5)
    async with verification(settings) as (rpc, _):
        email = random_email()
        replies = await asyncio.gather(*(send(rpc, email, ACCOUNT_CLASS[i % 5]) for i in range(30)))
        assert sum(r["ok"] for r in replies) == 5
        assert {error_code(r) for r in replies if not r["ok"]} == {"rate_limited"}
        # ...and the sign-in class of the same address was not touched by any of them.
        replies = await asyncio.gather(*(send(rpc, email, "login") for _ in range(12)))
        assert sum(r["ok"] for r in replies) == 5


async def test_each_class_has_its_own_cap_setting(make_settings):
    settings = make_settings(
        code_resend_cooldown_s=0,
        code_hourly_cap=1000,
        code_hourly_cap_sign_in=2,
        code_hourly_cap_account=3,
    )
    async with verification(settings) as (rpc, _):
        email = random_email()
        sign_in = [await send(rpc, email, "login") for _ in range(3)]
        account = [await send(rpc, email, "register") for _ in range(4)]
        assert [error_code(r) for r in sign_in] == [None, None, "rate_limited"]
        assert [error_code(r) for r in account] == [None, None, None, "rate_limited"]
        assert 3590 <= account[-1]["error"]["details"]["retry_after_s"] <= 3600


async def test_an_owner_gets_their_second_factor_while_their_phone_is_flooded(make_settings):
    """The whole story through identity: the attacker knows the victim's phone number and
    asks verification for ten `register` codes to it; the victim then signs in with their
    password and the second factor still reaches them."""
    settings = env_settings(make_settings, mfa="optional", code_hourly_cap=10)
    async with identity_env(settings) as env:
        user = await env.register(email=random_email())
        token, phone = user["session"]["token"], valid_phone()
        sent = await env.call(
            identity.start_contact_verification,
            {"token": token, "type": "phone", "contact": phone, "channel": "inbox-sms"},
        )
        assert sent["ok"], sent
        code = await env.inbox.code(phone)
        assert (await env.call(identity.confirm_contact, {"token": token, "code": code}))["ok"]
        assert (await env.call(identity.set_mfa, {"token": token, "enabled": True}))["ok"]

        flood: list[str | None] = []
        while len(flood) < 20 and flood[-1:] != ["rate_limited"]:
            flood.append(error_code(await send(env.rpc, phone, "register", "inbox-sms")))
        # The cap (10) less the verify_contact code the owner had: the class is used up.
        assert flood == [None] * 9 + ["rate_limited"]
        for _ in range(9):
            await env.inbox.code(phone)

        login = await env.call(
            identity.login, {"username": user["user"]["username"], "password": PASSWORD}
        )
        mfa_token = login["result"]["mfa_token"]
        sent = await env.call(
            identity.send_mfa_code,
            {"mfa_token": mfa_token, "contact_id": "phone", "channel": "inbox-sms"},
        )
        assert sent["ok"], sent
        code = await env.inbox.code(phone)
        reply = await env.call(identity.verify_mfa, {"mfa_token": mfa_token, "code": code})
        assert reply["ok"], reply
        assert reply["result"]["session"]["token"]


async def test_no_caller_can_send_second_factor_codes_nor_spend_their_cap(make_settings):
    settings = make_settings(code_resend_cooldown_s=0, code_hourly_cap=1)
    async with verification(settings) as (rpc, inbox):
        victim = random_email()
        body = {"send_to": victim, "scenario": "two_factor", "channel": "inbox"}
        for _ in range(3):
            assert error_code(await call(rpc, v1.send_code, body)) == "forbidden"
        # Nothing was counted: identity's own send still goes, once, as the cap says.
        assert (await send(rpc, victim, "two_factor"))["ok"]
        assert await inbox.code(victim)
        assert error_code(await send(rpc, victim, "two_factor")) == "rate_limited"
