"""Password reset requests (issue 11, findings 5 and 6): capped without revealing accounts, and
the mail promised by a committed request leaves even when the service dies before handing it
over."""

import asyncio
import signal

import asyncpg

from contracts.identity import v1
from contracts.notifier import v1 as notifier
from gatehouse.rpc import RpcClient
from services.ops.system import SystemSettings
from tests.identity_support import PASSWORD, env_settings, identity_env, tap
from tests.process_support import free_port, start_service
from tests.support import call, error_code, random_email, random_username


async def test_reset_requests_are_capped_per_identifier_alike_for_unknown_ones(make_settings):
    settings = env_settings(
        make_settings, reset_mail_cap_per_identifier=2, reset_mail_cap_per_account=3
    )
    async with (
        identity_env(settings) as env,
        tap(settings, settings.topology.internal, notifier.send_security.routing_key) as mails,
    ):
        email = random_email()
        user = await env.register_verified(email, login=False)
        username = user["user"]["username"]

        async def requests(body: dict) -> list[str | None]:
            return [
                error_code(await env.call(v1.send_password_reset_token, body)) for _ in range(3)
            ]

        # The identifier's cap answers the same whether or not an account is behind it.
        known = await requests({"email": email})
        unknown = await requests({"email": random_email()})
        assert known == unknown == [None, None, "rate_limited"]
        # The account's cap is silent: a third identifier's request is answered as usual and
        # sends nothing once the account had its three mails.
        assert (await env.call(v1.send_password_reset_token, {"username": username}))["ok"]
        assert (await env.call(v1.send_password_reset_token, {"username": username}))["ok"]
        barrier = random_email()
        await env.register_verified(barrier, login=False)
        assert (await env.call(v1.send_password_reset_token, {"email": barrier}))["ok"]
        await mails.wait_for(lambda b: b.get("to") == barrier)
        assert [b["to"] for b in mails.bodies()].count(email) == 3


async def test_a_reset_mail_committed_before_a_kill_9_is_sent_after_the_restart(make_settings):
    settings = make_settings()
    address = random_email()
    first = await start_service(settings, free_port(), "services.identity.app:app")
    try:
        async with RpcClient(
            settings.amqp_url.get_secret_value(), settings.topology, timeout_s=30
        ) as rpc:
            username = random_username()
            body = {"username": username, "email": address, "password": PASSWORD}
            assert (await call(rpc, v1.register, body))["ok"]
            await verified_earlier(settings, address)
            # No notifier runs: the committed mail cannot be handed over yet.
            reply = await call(rpc, v1.send_password_reset_token, {"username": username})
            assert reply == {"ok": True, "result": {"done": True}}
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    mails_exchange = settings.topology.internal
    async with tap(settings, mails_exchange, notifier.send_security.routing_key) as mails:
        second = await start_service(settings, free_port(), "services.identity.app:app")
        try:
            mail = await mails.wait_for(lambda b: b.get("to") == address, wait_s=60)
            async with RpcClient(
                settings.amqp_url.get_secret_value(), settings.topology, timeout_s=30
            ) as rpc:
                token = mail["data"]["password_reset_token"]
                reset = {"username": username, "token": token, "new_password": "after-the-crash-1"}
                assert (await call(rpc, v1.reset_password_with_token, reset))["ok"]
        finally:
            second.send_signal(signal.SIGTERM)
            await asyncio.wait_for(second.wait(), 30)


async def verified_earlier(settings: SystemSettings, email: str) -> None:
    """The user proved the address before (a reset mail goes only to a verified email, issue
    22); no verification service runs here to send the code, so the row says so directly."""
    con = await asyncpg.connect(
        settings.database_url.get_secret_value(), server_settings={"search_path": "identity"}
    )
    try:
        await con.execute("UPDATE users SET email_verified = true WHERE email = $1", email)
    finally:
        await con.close()
