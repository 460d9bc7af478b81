"""Each RabbitMQ role can say only what it is for (issues 16 and 21), on the real broker.

Four throwaway users get the roles of `services.ops.broker_roles`, made by
`services.ops.broker_users` (what `gatehouse broker-users apply` runs): identity and
verification run as the services user, a
custom channel worker and hook workers as the workers user, commands come from the callers
user, operator commands from the admins user. Then, for each role, what it must not do: the
broker refuses (ACCESS_REFUSED, the channel closed with 403) or the services do (`forbidden`).
The users are deleted afterwards; guest and the other permissions of the vhost are left alone.
"""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aio_pika
import pytest
from aiormq.exceptions import ChannelAccessRefused
from pydantic import SecretStr

from contracts.admin import v1 as admin
from contracts.hooks import v1 as hooks
from contracts.identity import v1
from contracts.topology import REPLY_TO
from contracts.verification import v1 as verification
from gatehouse.rpc import RpcClient
from services.identity.app import build as build_identity
from services.ops.broker_roles import rabbitmqctl_commands, roles
from services.ops.broker_users import Account, Rabbitmqctl, remove
from services.verification.app import build as build_verification
from tests.hooks_support import hooks_running
from tests.identity_support import PASSWORD, Env, admin_client, env_settings, tap
from tests.rabbitmq_support import throwaway_users
from tests.support import (
    call,
    error_code,
    inbox_channels,
    random_email,
    random_username,
    running,
)

pytestmark = pytest.mark.skipif(
    shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl next to the broker"
)


@pytest.fixture(scope="module")
async def deployment(make_settings) -> AsyncIterator[tuple[Env, dict[str, str]]]:
    settings = env_settings(make_settings, hook_post_login_timeout_s=2.0)
    vhost = urlsplit(settings.amqp_url.get_secret_value()).path.lstrip("/") or "/"
    with throwaway_users(settings, vhost) as urls:
        as_services = settings.model_copy(
            update={
                "amqp_url": SecretStr(urls["services"]),
                "admin_users": [urlsplit(urls["admins"]).username],
            }
        )
        as_workers = as_user(settings, urls["workers"])
        identity, verifier = build_identity(as_services), build_verification(as_services)
        async with (
            running(verifier, identity),
            inbox_channels(as_workers, ("inbox", "email"), ("inbox-sms", "sms")) as inbox,
            RpcClient(urls["callers"], settings.topology, timeout_s=10) as rpc,
            admin_client(as_user(settings, urls["admins"])) as admin_rpc,
        ):
            yield Env(as_services, identity, verifier, rpc, inbox, admin_rpc), urls


def as_user(settings, url: str):
    return settings.model_copy(update={"amqp_url": SecretStr(url)})


async def refused(url: str, attempt) -> str:
    """Run `attempt(channel)` as the user of `url`; the broker must refuse it. Returns why."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        with pytest.raises(ChannelAccessRefused) as refusal:
            await attempt(channel)
        assert channel.is_closed
    return str(refusal.value)


async def ignore(message: aio_pika.abc.AbstractIncomingMessage) -> None:
    pass


# --- the services user -------------------------------------------------------------------


async def test_gatehouse_runs_as_the_services_user_with_a_channel_worker_as_the_workers_user(
    deployment,
):
    env, _ = deployment
    # Commands from a caller and their replies, a code through the delivery exchange to a
    # custom channel worker signed in as the workers user (verification declared and bound
    # its queue), identity redeeming it through the internal exchange, the outbox relay.
    email = random_email()
    code = await env.code(email, "register")
    user = await env.register(email=email, code=code)
    assert user["session"]["token"] and user["user"]["email_verified"]
    login_code = await env.code(email, "login")
    reply = await env.call(v1.login, {"email": email, "code": login_code})
    assert reply["ok"], reply


async def test_a_hook_worker_runs_as_the_workers_user(deployment):
    env, urls = deployment
    as_workers = as_user(env.settings, urls["workers"])
    calls: list[str | None] = []

    async def deny_bob(event, api):
        calls.append(event.user.username)
        if event.user.username.startswith("bob"):
            api.access.deny("bob", "not today")
        api.user.set_app_metadata("seen", True)

    alice = await env.register(username=f"alice_{uuid.uuid4().hex[:8]}", login=False)
    bob = await env.register(username=f"bob_{uuid.uuid4().hex[:8]}", login=False)
    async with hooks_running(as_workers, ("post_login", deny_bob, 100)):
        ok = await env.login(alice["user"]["username"])
        denied = await env.login(bob["user"]["username"])
    assert ok["ok"] and ok["result"]["user"]["app_metadata"] == {"seen": True}, ok
    assert error_code(denied) == "access_denied"
    assert calls == [alice["user"]["username"], bob["user"]["username"]]


async def test_the_services_user_cannot_publish_to_the_admin_exchange(deployment):
    env, urls = deployment

    async def publish(channel):
        exchange = await channel.get_exchange(env.settings.topology.admin, ensure=False)
        await exchange.publish(aio_pika.Message(b"{}"), admin.find_user.routing_key)

    await refused(urls["services"], publish)


async def test_the_services_user_cannot_run_an_admin_command_by_its_queue_name(deployment, caplog):
    """The default exchange reaches any queue by name, and the services user may write to
    it (replies, retries): identity refuses an admin command that did not come through the
    admin exchange, whoever sent it, and changes nothing."""
    env, urls = deployment
    user = (await env.register(login=False))["user"]
    services_user = urlsplit(urls["services"]).username
    queue = env.settings.topology.command_queue(admin.disable_user.routing_key)
    connection = await aio_pika.connect(urls["services"])
    async with connection:
        channel = await connection.channel()
        replies: asyncio.Queue[bytes] = asyncio.Queue()
        reply_queue = await channel.get_queue(REPLY_TO, ensure=False)

        async def on_reply(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            replies.put_nowait(message.body)

        await reply_queue.consume(on_reply, no_ack=True)
        await channel.default_exchange.publish(
            aio_pika.Message(
                json.dumps({"id": user["id"], "reason": "x"}).encode(),
                reply_to=REPLY_TO,
                correlation_id="c1",
                user_id=services_user,
            ),
            routing_key=queue,
        )
        reply = json.loads(await asyncio.wait_for(replies.get(), 10))
    assert error_code(reply) == "forbidden", reply
    assert f"from {services_user} through the default exchange" in caplog.text
    assert (await env.login(user["username"]))["ok"]  # not disabled


async def test_the_notifiers_retry_queues_are_within_the_services_rights(deployment):
    """The notifier (not run here) declares `<queue>.delay.<ms>` queues dead-lettering into the
    default exchange and publishes to them through it: configure on the name, write on
    `amq.default`."""
    env, urls = deployment
    topology = env.settings.topology
    work = topology.consumer_queue("notifier", "email")
    connection = await aio_pika.connect(urls["services"])
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        delay = await channel.declare_queue(
            topology.delay_queue(work, 1000),
            durable=True,
            arguments={
                "x-message-ttl": 1000,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": work,
            },
        )
        await channel.default_exchange.publish(aio_pika.Message(b"{}"), delay.name)
        await delay.delete(if_unused=False, if_empty=False)


# --- the workers user --------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [v1.login, verification.check_code, v1.jwks], ids=lambda c: c.routing_key
)
async def test_a_worker_cannot_consume_a_command_queue(deployment, command):
    """Not login's (passwords in clear), check_code's (answer `ok` for any code), jwks' (its
    own key, forged access tokens)."""
    env, urls = deployment
    name = env.settings.topology.command_queue(command.routing_key)

    async def consume(channel):
        queue = await channel.declare_queue(name, passive=True)
        await queue.consume(ignore)

    assert f"queue '{name}'" in await refused(urls["workers"], consume)


async def test_a_worker_cannot_answer_through_the_default_exchange(deployment):
    """Answering a command (jwks) means publishing to its caller's direct reply-to address,
    which is the default exchange: refused, and with it every queue by name, an admin one
    included."""
    env, urls = deployment
    admin_queue = env.settings.topology.command_queue(admin.delete_user.routing_key)

    async def publish(channel):
        await channel.default_exchange.publish(
            aio_pika.Message(b'{"id": "u_x", "reason": "x"}'), routing_key=admin_queue
        )

    assert "amq.default" in await refused(urls["workers"], publish)


@pytest.mark.parametrize("kind", ["events", "commands", "admin", "internal", "delivery"])
async def test_a_worker_cannot_publish_beyond_the_workers_exchange(deployment, kind):
    env, urls = deployment
    topology = env.settings.topology
    routing_key = {
        "events": "user.deregistered.v1",
        "commands": v1.login.routing_key,
        "admin": admin.disable_user.routing_key,
        "internal": verification.redeem_code.routing_key,
        "delivery": "email",
    }[kind]

    async def publish(channel):
        exchange = await channel.get_exchange(topology.exchange(kind), ensure=False)
        await exchange.publish(aio_pika.Message(b"{}"), routing_key)

    await refused(urls["workers"], publish)


async def test_on_the_workers_exchange_a_worker_sends_only_announcements_and_hook_replies(
    deployment,
):
    env, urls = deployment

    async def publish(channel):
        exchange = await channel.get_exchange(env.settings.topology.workers, ensure=False)
        await exchange.publish(aio_pika.Message(b"{}"), v1.login.routing_key)

    assert "access to topic 'identity.login.v1'" in await refused(urls["workers"], publish)


@pytest.mark.parametrize("key", ["email", "sms", "#"])
async def test_a_worker_cannot_bind_to_the_codes_of_the_built_in_channels(deployment, key):
    """Its own channel's queue exists (verification declared it) and is readable, but binding
    it, or a queue it declares, to `email` would hand it every code."""
    env, urls = deployment
    topology = env.settings.topology

    async def bind_channel_queue(channel):
        queue = await channel.declare_queue(topology.channel_queue("inbox"), passive=True)
        await queue.bind(topology.delivery, key)

    async def bind_own_queue(channel):
        queue = await channel.declare_queue(
            topology.hook_queue("post_login", f"x{uuid.uuid4().hex[:6]}"), auto_delete=True
        )
        await queue.bind(topology.delivery, key)

    await refused(urls["workers"], bind_channel_queue)
    await refused(urls["workers"], bind_own_queue)


async def test_a_worker_cannot_catch_every_hook_call_nor_touch_gatehouses_exchanges(deployment):
    env, urls = deployment
    topology = env.settings.topology

    async def bind_wildcard(channel):
        queue = await channel.declare_queue(
            topology.hook_queue("post_login", f"x{uuid.uuid4().hex[:6]}"), auto_delete=True
        )
        await queue.bind(topology.hooks, "hooks.#")

    async def delete_exchange(channel):
        await channel.exchange_delete(topology.hooks)

    async def dead_letter_into_the_namespace(channel):
        await channel.declare_queue(
            topology.hook_queue("post_login", "x"),
            auto_delete=True,
            arguments={"x-dead-letter-exchange": topology.dead_letter},
        )

    assert "access to topic 'hooks.#'" in await refused(urls["workers"], bind_wildcard)
    await refused(urls["workers"], delete_exchange)
    await refused(urls["workers"], dead_letter_into_the_namespace)


# --- the callers user --------------------------------------------------------------------


@pytest.mark.parametrize(
    "command, body",
    [
        (hooks.register_hook_v2, {"trigger": "post_login", "name": "mine", "priority": 999}),
        (verification.register_channel, {"name": "inbox", "kind": "sms"}),
    ],
    ids=["hook", "channel"],
)
async def test_a_caller_cannot_announce_hooks_or_channels(deployment, command, body):
    env, urls = deployment
    async with RpcClient(urls["callers"], env.settings.topology, timeout_s=5) as rpc:
        # On the workers exchange: the broker refuses.
        with pytest.raises(ChannelAccessRefused):
            await rpc.call(command, body)
    async with RpcClient(urls["callers"], env.settings.topology, timeout_s=5) as rpc:
        # On the commands exchange: nobody serves it there.
        assert error_code(await call(rpc, command.routing_key, body)) == "unknown_command"
        # The announcement v1 of the release still sits there, retired.
        retired = await call(rpc, hooks.register_hook, body)
    if command is hooks.register_hook_v2:
        assert error_code(retired) == "forbidden"


async def test_a_caller_cannot_redeem_a_sign_in_code_nor_spend_its_attempts(deployment):
    env, urls = deployment
    email = random_email()
    await env.register(email=email, code=await env.code(email, "register"), login=False)
    code = await env.code(email, "login")
    check = {"send_to": email, "scenario": "login"}
    for wrong in range(6):  # more than the attempts a code has
        reply = await env.call(verification.check_code, {**check, "code": f"{wrong:06d}"})
        assert error_code(reply) == "forbidden", reply
    assert error_code(await env.call(verification.check_code, {**check, "code": code})) == (
        "forbidden"
    )
    with pytest.raises(ChannelAccessRefused):  # identity's own command: internal exchange
        async with RpcClient(urls["callers"], env.settings.topology, timeout_s=5) as rpc:
            await rpc.call(verification.redeem_code, {**check, "code": code})
    assert (await env.call(v1.login, {"email": email, "code": code}))["ok"]


async def test_a_caller_follows_events(deployment):
    env, urls = deployment
    caller = as_user(env.settings, urls["callers"])
    async with tap(caller, caller.topology.events, "user.#", passive=True) as events:
        reply = await env.call(v1.register, {"username": random_username(), "password": PASSWORD})
        assert reply["ok"], reply
        await events.event("user.registered.v1", reply["result"]["user"]["id"])


@pytest.mark.parametrize(
    ("kind", "routing_key"),
    [
        # A forged factor or recovery-code event would have the notifier mail the owner a
        # security notice of the caller's making.
        ("events", "user.factor_removed.v1"),
        ("events", "user.recovery_code_used.v1"),
        ("internal", "verification.redeem_code.v1"),
        ("workers", "identity.register_hook.v2"),
        ("delivery", "email"),
    ],
)
async def test_a_caller_publishes_only_commands(deployment, kind, routing_key):
    env, urls = deployment

    async def publish(channel):
        exchange = await channel.get_exchange(env.settings.topology.exchange(kind), ensure=False)
        await exchange.publish(aio_pika.Message(b"{}"), routing_key)

    assert "ACCESS_REFUSED" in await refused(urls["callers"], publish)


async def test_a_caller_cannot_publish_to_the_admin_exchange(deployment):
    env, urls = deployment

    async def publish(channel):
        exchange = await channel.get_exchange(env.settings.topology.admin, ensure=False)
        await exchange.publish(
            aio_pika.Message(b'{"username": "anyone"}'), admin.find_user.routing_key
        )

    assert "ACCESS_REFUSED" in await refused(urls["callers"], publish)
    # Nor through Gatehouse's own client, user_id and all.
    async with admin_client(as_user(env.settings, urls["callers"])) as rpc:
        with pytest.raises(ChannelAccessRefused):
            await rpc.call_raw(admin.find_user.routing_key, b'{"username": "anyone"}')


# --- the admins user ---------------------------------------------------------------------


async def test_an_admin_calls_admin_commands_and_is_named_in_the_audit(deployment):
    env, urls = deployment
    user = (await env.register(login=False))["user"]
    operator = as_user(env.settings, urls["admins"])
    async with tap(operator, operator.topology.events, "admin.#", passive=True) as audit:
        reply = await env.admin(admin.disable_user, {"id": user["id"], "reason": "test"})
        assert reply["ok"], reply
        taken = await audit.wait_for(lambda b: b["data"]["target_user_id"] == user["id"])
    assert taken["data"]["actor"] == urlsplit(urls["admins"]).username
    assert error_code(await env.login(user["username"])) == "account_disabled"


# --- gatehouse broker-users ----------------------------------------------------------------


async def test_gatehouse_broker_users_apply_creates_the_roles_and_show_prints_them(
    deployment, tmp_path
):
    """The command itself, as a newcomer runs it: users made, passwords that sign in, topic
    permissions in place, and `show` printing the rabbitmqctl commands of the definition."""
    env, _ = deployment
    prefix = f"gatehouse-test-cli-{uuid.uuid4().hex[:6]}"
    passwords = tmp_path / "passwords.env"
    passwords.write_text("".join(f"{r}=pw-{r}-{prefix}\n" for r in roles(env.settings.topology)))
    try:
        done = await cli(env.settings, "broker-users", "apply", "--password-file", str(passwords),
                         "--user-prefix", prefix)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert f"{prefix}-workers: workers role" in done.stdout and "pw-" not in done.stdout
        url = Account("workers", f"{prefix}-workers", f"pw-workers-{prefix}").amqp_url(
            env.settings.amqp_url.get_secret_value()
        )
        await (await aio_pika.connect(url)).close()
        listed = (
            await asyncio.to_thread(
                subprocess.run,
                ["rabbitmqctl", "-q", "list_user_topic_permissions", f"{prefix}-workers"],
                capture_output=True, text=True, check=True,
            )
        ).stdout  # fmt: skip
        assert env.settings.topology.workers in listed and env.settings.topology.hooks in listed
        shown = await cli(env.settings, "broker-users", "show", "--user-prefix", prefix)
        assert shown.stdout.strip() == rabbitmqctl_commands(env.settings.topology, prefix)
    finally:
        remove(Rabbitmqctl(), env.settings.topology, prefix=prefix)


async def cli(settings, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "GATEHOUSE_NAMESPACE": settings.namespace,
        "GATEHOUSE_AMQP_URL": settings.amqp_url.get_secret_value(),
    }
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", "from services.cli import main; main()", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
