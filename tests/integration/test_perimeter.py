"""What the services check themselves (issue 21), beyond RabbitMQ's permissions: a guarded
command only through its own exchange, an admin command only from an admin user, sign-in
codes redeemed only by identity, registrations capped and kept per namespace. As guest, who
may publish anywhere: what stops it here is the services, not the broker."""

import asyncio
import json
import logging
from typing import Any

import aio_pika
import pytest

from contracts.admin import v1 as admin
from contracts.hooks import v1 as hooks
from contracts.identity import v1
from contracts.topology import REPLY_TO, Command
from contracts.verification import v1 as verification
from gatehouse.rpc import RpcClient
from services.identity.app import build as build_identity
from services.verification.app import build as build_verification
from tests.hooks_support import hook_named, unique_name
from tests.identity_support import PASSWORD, env_settings, identity_env
from tests.support import call, error_code, inbox_channels, random_email, random_phone, running

HOOK_CAP = 2
CHANNEL_CAP = 3  # identity_env runs two channels of its own


@pytest.fixture(scope="module")
async def env(make_settings):
    settings = env_settings(
        make_settings,
        # guest is not an admin user here: operator commands from it are refused.
        admin_users=["ops-alice"],
        hook_max_per_trigger=HOOK_CAP,
        channel_max=CHANNEL_CAP,
    )
    async with identity_env(settings) as env:
        yield env


async def published(env, exchange: str, routing_key: str, body: dict[str, Any]) -> dict:
    """Publish as guest through `exchange` ("" is the default exchange) and await the reply."""
    connection = await aio_pika.connect(env.settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        replies: asyncio.Queue[bytes] = asyncio.Queue()

        async def on_reply(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            replies.put_nowait(message.body)

        await (await channel.get_queue(REPLY_TO, ensure=False)).consume(on_reply, no_ack=True)
        target = (
            channel.default_exchange
            if exchange == ""
            else await channel.get_exchange(exchange, ensure=False)
        )
        await target.publish(
            aio_pika.Message(
                json.dumps(body).encode(), reply_to=REPLY_TO, correlation_id="1", user_id="guest"
            ),
            routing_key=routing_key,
        )
        return dict(json.loads(await asyncio.wait_for(replies.get(), 10)))


async def by_queue_name(env, command: Command, body: dict[str, Any]) -> dict:
    topology = env.settings.topology
    return await published(env, "", topology.command_queue(command.routing_key), body)


async def test_an_admin_command_by_its_queue_name_is_forbidden_and_changes_nothing(env, caplog):
    user = (await env.register(login=False))["user"]
    with caplog.at_level(logging.INFO):
        reply = await by_queue_name(env, admin.disable_user, {"id": user["id"], "reason": "x"})
    assert error_code(reply) == "forbidden", reply
    assert "refused admin.disable_user.v1 from guest through the default exchange" in caplog.text
    assert (await env.login(user["username"]))["ok"]


async def test_an_admin_command_from_a_user_not_in_admin_users_is_forbidden(env, caplog):
    user = (await env.register(login=False))["user"]
    with caplog.at_level(logging.INFO):
        reply = await env.admin(admin.disable_user, {"id": user["id"], "reason": "x"})
    assert error_code(reply) == "forbidden", reply
    assert "'guest' is not an admin user" in reply["error"]["message"]
    assert "admin call admin.disable_user.v1 by guest: forbidden" in caplog.text
    assert (await env.login(user["username"]))["ok"]


@pytest.mark.parametrize(
    "command, body",
    [
        (
            verification.redeem_code,
            {"send_to": "a@example.com", "scenario": "login", "code": "1" * 6},
        ),
        (hooks.register_hook_v2, {"trigger": "post_login", "name": "x", "priority": 1}),
        (verification.register_channel, {"name": "inbox", "kind": "sms"}),
    ],
    ids=lambda c: c.routing_key if isinstance(c, Command) else "",
)
async def test_internal_and_workers_commands_are_taken_only_through_their_own_exchange(
    env, command, body
):
    assert error_code(await by_queue_name(env, command, body)) == "forbidden"
    assert error_code(await call(env.rpc, command.routing_key, body)) == "unknown_command"


async def test_public_check_code_refuses_sign_in_codes_without_touching_them(env):
    email = random_email()
    await env.register(email=email, code=await env.code(email, "register"), login=False)
    code = await env.code(email, "login")
    for scenario in sorted(verification.REDEEMED_BY_IDENTITY):
        check = {"send_to": email, "scenario": scenario, "code": code}
        assert error_code(await env.call(verification.check_code, check)) == "forbidden"
    for _ in range(6):  # more than a code's attempts: none of them counted
        check = {"send_to": email, "scenario": "login", "code": "000000"}
        assert error_code(await env.call(verification.check_code, check)) == "forbidden"
    assert (await env.call(v1.login, {"email": email, "code": code}))["ok"]


async def test_a_new_hook_name_beyond_the_cap_is_refused_and_a_known_one_always_renews(env, caplog):
    names = [unique_name("capped") for _ in range(HOOK_CAP + 1)]
    try:
        for name in names[:HOOK_CAP]:
            reply = await env.call(hooks.register_hook_v2, {"trigger": "post_login", "name": name})
            assert reply["ok"], reply
        with caplog.at_level(logging.INFO):
            extra = {"trigger": "post_login", "name": names[-1]}
            reply = await env.call(hooks.register_hook_v2, extra)
        assert error_code(reply) == "invalid_operation", reply
        assert f"hook {names[-1]} refused on post_login" in caplog.text
        again = {"trigger": "post_login", "name": names[0], "priority": 7}
        assert (await env.call(hooks.register_hook_v2, again))["ok"]
        # The cap is per trigger.
        other = {"trigger": "pre_registration", "name": names[-1]}
        assert (await env.call(hooks.register_hook_v2, other))["ok"]
    finally:
        await env.identity.pool.execute("DELETE FROM hooks WHERE name = any($1::text[])", names)


async def test_a_new_channel_name_beyond_the_cap_is_refused_and_a_known_one_always_renews(
    env, caplog
):
    fresh, extra = unique_name("chan"), unique_name("chan")
    try:
        assert (await env.call(verification.register_channel, {"name": fresh}))["ok"]
        with caplog.at_level(logging.INFO):
            reply = await env.call(verification.register_channel, {"name": extra})
        assert error_code(reply) == "invalid_operation", reply
        assert f"channel {extra} refused" in caplog.text
        renewed = {"name": "inbox", "kind": "email"}
        assert (await env.call(verification.register_channel, renewed))["ok"]
    finally:
        await env.verification.pool.execute("DELETE FROM channels WHERE name = $1", fresh)


async def test_namespaces_sharing_a_database_never_see_each_others_workers(env, make_settings):
    """Another installation on the same database announces a hook and a channel of the same
    names with other settings: ours keep theirs (a fail_closed hook is not moved to a priority
    nobody serves), and the hook caches stay apart."""
    other = make_settings(database_url=env.settings.database_url)
    assert other.namespace != env.settings.namespace
    name = unique_name("gate")
    channel = unique_name("texts")
    seen_by_theirs: list[Any] = []

    async def ours(event, api):
        api.cache.set("seen", "ours")
        api.access.deny("closed", "closed")

    async def theirs(event, api):
        seen_by_theirs.append(api.cache.get("seen"))

    async with (
        running(build_verification(other), build_identity(other)),
        hook_named(env.settings, "pre_registration", ours, name, 100),
        inbox_channels(env.settings, (channel, "sms")),
    ):
        first = await env.call(v1.register, {"username": unique_name("u"), "password": PASSWORD})
        assert error_code(first) == "access_denied"
        async with (
            hook_named(other, "pre_registration", theirs, name, 5),
            inbox_channels(other, (channel, "email")),
        ):
            theirs_reply = await call_as(other, v1.register, unique_name("u"))
            assert theirs_reply["ok"], theirs_reply
            ours_reply = await env.call(
                v1.register, {"username": unique_name("u"), "password": PASSWORD}
            )
            assert error_code(ours_reply) == "access_denied"
            sent = await env.call(
                verification.send_code,
                {"send_to": random_phone(), "scenario": "verify_contact", "channel": channel},
            )
            assert sent["ok"], sent
    assert seen_by_theirs == [None]


async def call_as(settings, command, username: str) -> dict:
    async with RpcClient(settings.amqp_url.get_secret_value(), settings.topology) as rpc:
        return await call(rpc, command, {"username": username, "password": PASSWORD})
