"""gatehouse.testing runs an adopter's hook and channel workers without a broker: the
worker's own subscribers get each message in memory and nothing connects (the settings here
point at a port nobody listens on)."""

from datetime import UTC, datetime, timedelta

import pytest

from contracts.errors import ErrorCode
from contracts.hooks import v1 as hooks
from contracts.verification.v1 import Delivery
from gatehouse.channels import CustomChannel
from gatehouse.hooks import Api, make_hook
from gatehouse.rpc import RemoteError
from gatehouse.settings import BrokerSettings
from gatehouse.testing import TestChannelWorker, TestHookWorker

NOWHERE = BrokerSettings(amqp_url="amqp://guest:guest@127.0.0.1:1/", namespace="testing")


def login_of(email_verified: bool) -> hooks.HookEvent:
    user = hooks.HookUser(id="u_1", email="ada@example.com", email_verified=email_verified)
    return hooks.HookEvent(trigger=hooks.Trigger.post_login, user=user, method="password")


async def require_verified_email(event: hooks.HookEvent, api: Api) -> None:
    if not event.user.email_verified:
        api.access.deny("unverified", "Please verify your email first")


async def count_logins(event: hooks.HookEvent, api: Api) -> None:
    seen = api.cache.get("logins")
    api.cache.set("logins", str(int(seen["value"]) + 1 if seen else 1))


async def broken(event: hooks.HookEvent, api: Api) -> None:
    raise RuntimeError("the hook's own bug")


def delivery(send_to: str) -> Delivery:
    expires_at = datetime.now(UTC) + timedelta(minutes=10)
    return Delivery(
        send_to=send_to,
        code="042917",
        scenario="register",
        channel="pigeon",
        locale="en",
        expires_at=expires_at,
    )


async def test_a_hook_answers_the_request_identity_would_send():
    worker = TestHookWorker([make_hook("post_login", require_verified_email)], NOWHERE)
    async with worker:
        denied = await worker.call("require_verified_email", login_of(email_verified=False))
        allowed = await worker.call("require_verified_email", login_of(email_verified=True))
    assert denied.operations == [
        hooks.Deny(reason="unverified", user_message="Please verify your email first")
    ]
    assert allowed.operations == []


async def test_a_hook_reads_the_cache_snapshot_it_is_sent():
    snapshot = {
        "logins": hooks.CacheEntry(value="2", expires_at=datetime.now(UTC) + timedelta(hours=1))
    }
    async with TestHookWorker([make_hook("post_login", count_logins)], NOWHERE) as worker:
        reply = await worker.call("count_logins", login_of(True), cache=snapshot)
    assert reply.operations == [hooks.CacheSet(key="logins", value="3")]


async def test_a_hook_that_raises_is_an_error_reply():
    async with TestHookWorker([make_hook("post_login", broken)], NOWHERE) as worker:
        with pytest.raises(RemoteError) as raised:
            await worker.call("broken", login_of(True))
    assert raised.value.code is ErrorCode.internal_error


async def test_a_hook_the_worker_does_not_serve_is_refused():
    async with TestHookWorker([make_hook("post_login", broken)], NOWHERE) as worker:
        with pytest.raises(LookupError, match="no post_login hook named 'other'"):
            await worker.call("other", login_of(True))


async def test_a_channel_gets_a_delivery_it_can_reach():
    sent: list[str] = []

    async def send(message: Delivery) -> None:
        sent.append(message.send_to)

    async with TestChannelWorker([CustomChannel("pigeon", "email", send)], NOWHERE) as worker:
        handled = await worker.deliver("pigeon", delivery("ada@example.com"))
    assert handled is True
    assert sent == ["ada@example.com"]
    assert [d.code for d in worker.delivered["pigeon"]] == ["042917"]


async def test_a_channel_refuses_a_recipient_its_kind_does_not_reach():
    sent: list[str] = []

    async def send(message: Delivery) -> None:
        sent.append(message.send_to)

    async with TestChannelWorker([CustomChannel("pigeon", "sms", send)], NOWHERE) as worker:
        handled = await worker.deliver("pigeon", delivery("ada@example.com"))
    assert handled is False
    assert sent == []


async def test_a_channel_handler_that_raises_fails_the_test():
    async def send(message: Delivery) -> None:
        raise ConnectionError("the SMS provider is down")

    async with TestChannelWorker([CustomChannel("pigeon", None, send)], NOWHERE) as worker:
        with pytest.raises(ConnectionError):
            await worker.deliver("pigeon", delivery("+447911123456"))
