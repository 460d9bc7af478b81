"""RabbitMQ's own permissions keep operator commands to operators (issue 16), on the real
broker: three throwaway users get the permissions `services.namespace.permissions` computes
(the ones README and deploy/k8s give), Gatehouse runs as the services user, a caller of
commands is refused the admin exchange (ACCESS_REFUSED, the channel closed with 403), and an
operator is let through, named in the audit trail. The users are deleted afterwards; the guest
user and the other permissions of the vhost are left alone."""

import shutil
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aio_pika
import pytest
from aiormq.exceptions import ChannelAccessRefused
from pydantic import SecretStr

from contracts.admin import v1 as admin
from contracts.identity import v1
from services.runtime.rpc import RpcClient
from tests.identity_support import admin_client, env_settings, identity_env, tap
from tests.rabbitmq_support import throwaway_users
from tests.support import call, error_code, random_email, random_username

pytestmark = pytest.mark.skipif(
    shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl next to the broker"
)


@pytest.fixture(scope="module")
async def deployment(make_settings) -> AsyncIterator[tuple]:
    settings = env_settings(make_settings)
    vhost = urlsplit(settings.amqp_url.get_secret_value()).path.lstrip("/") or "/"
    with throwaway_users(settings, vhost) as urls:
        as_services = settings.model_copy(update={"amqp_url": SecretStr(urls["services"])})
        async with identity_env(as_services) as env:
            yield env, urls


def as_user(env, url: str):
    return env.settings.model_copy(update={"amqp_url": SecretStr(url)})


async def test_gatehouse_runs_as_the_services_user(deployment):
    env, _ = deployment
    # Commands and replies, a code through the delivery exchange to a custom channel worker,
    # identity calling verification, the outbox relay: all within the services user's rights.
    email = random_email()
    code = await env.code(email, "register")
    user = await env.register(email=email, code=code)
    assert user["session"]["token"] and user["user"]["email_verified"]


async def test_a_caller_calls_commands_and_follows_events(deployment):
    env, urls = deployment
    caller = as_user(env, urls["callers"])
    async with tap(caller, caller.topology.events, "user.#", passive=True) as events:
        async with RpcClient(urls["callers"], caller.topology, timeout_s=10) as rpc:
            username = random_username()
            reply = await call(
                rpc, v1.register, {"username": username, "password": "horse-battery-1"}
            )
            assert reply["ok"], reply
        await events.event("user.registered.v1", reply["result"]["user"]["id"])


async def test_a_caller_cannot_publish_to_the_admin_exchange(deployment):
    env, urls = deployment
    connection = await aio_pika.connect(urls["callers"])
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(env.settings.topology.admin, ensure=False)
        with pytest.raises(ChannelAccessRefused) as refused:
            await exchange.publish(
                aio_pika.Message(b'{"username": "anyone"}'), admin.find_user.routing_key
            )
        # aiormq raises ChannelAccessRefused for reply code 403, and the broker closed the channel.
        assert "ACCESS_REFUSED" in str(refused.value)
        assert channel.is_closed
    # Nor through Gatehouse's own client, user_id and all.
    caller = as_user(env, urls["callers"])
    async with admin_client(caller) as rpc:
        with pytest.raises(ChannelAccessRefused):
            await rpc.call_raw(admin.find_user.routing_key, b'{"username": "anyone"}')


async def test_an_admin_calls_admin_commands_and_is_named_in_the_audit(deployment):
    env, urls = deployment
    user = (await env.register(login=False))["user"]
    operator = as_user(env, urls["admins"])
    async with tap(operator, operator.topology.events, "admin.#", passive=True) as audit:
        async with admin_client(operator) as rpc:
            reply = await call(rpc, admin.disable_user, {"id": user["id"], "reason": "test"})
        assert reply["ok"], reply
        taken = await audit.wait_for(lambda b: b["data"]["target_user_id"] == user["id"])
    assert taken["data"]["actor"] == urlsplit(urls["admins"]).username
    assert error_code(await env.login(user["username"])) == "account_disabled"


async def test_the_services_user_cannot_publish_to_the_admin_exchange_either(deployment):
    env, urls = deployment
    connection = await aio_pika.connect(urls["services"])
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(env.settings.topology.admin, ensure=False)
        with pytest.raises(ChannelAccessRefused):
            await exchange.publish(aio_pika.Message(b"{}"), admin.find_user.routing_key)


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
