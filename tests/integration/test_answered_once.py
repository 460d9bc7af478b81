"""A state-changing command runs once per message id: a redelivered or duplicated message gets
the reply recorded with the first one's effect (issue 12, finding 2; finding 1 for send_code)."""

import asyncio
import secrets
import uuid

import aio_pika
import pytest

from contracts.identity import v1
from contracts.verification import v1 as verification
from gatehouse.rpc import RpcClient
from services.verification.app import build as build_verification
from tests.identity_support import PASSWORD, env_settings, identity_env, tap
from tests.support import (
    call,
    error_code,
    error_fields,
    eventually,
    inbox_channels,
    random_email,
    random_username,
    running,
)


@pytest.fixture(scope="module")
async def env(make_settings):
    # A real cooldown: a replayed send_code must not meet its own first send's cooldown.
    async with identity_env(env_settings(make_settings, code_resend_cooldown_s=60)) as env:
        yield env


async def users_named(env, username: str) -> int:
    async with env.identity.pool.acquire() as con:
        return await con.fetchval(
            "SELECT count(*) FROM users WHERE lower(username) = lower($1)", username
        )


async def sessions_of(env, public_id: str) -> int:
    async with env.identity.pool.acquire() as con:
        return await con.fetchval(
            "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id"
            " WHERE u.public_id = $1",
            public_id,
        )


async def test_a_duplicated_register_creates_one_user_and_answers_both_alike(env):
    username = random_username()
    body = {"username": username, "password": PASSWORD, "login": True}
    message_id = uuid.uuid4().hex
    first = await env.call(v1.register, body, message_id=message_id)
    again = await env.call(v1.register, body, message_id=message_id)
    assert first["ok"], first
    assert again == first  # the same user, the same session token: not username_taken
    assert await users_named(env, username) == 1


async def test_concurrent_duplicates_of_a_login_open_one_session_with_one_event(env):
    user = (await env.register(login=False))["user"]
    body = {"username": user["username"], "password": PASSWORD}
    message_id = uuid.uuid4().hex
    async with tap(env.settings, env.settings.topology.events, "user.logged_in.v1") as events:
        replies = await asyncio.gather(
            *(env.call(v1.login, body, message_id=message_id) for _ in range(8))
        )
        assert all(r == replies[0] for r in replies), replies
        assert replies[0]["ok"], replies[0]
        await events.event("user.logged_in.v1", user["id"])
        # A barrier: a later sign-in's event arrives after any duplicate of the first.
        later = await env.call(v1.login, body)
        await events.wait_for(
            lambda e: (
                e["data"]["session_id"] not in _session_ids(events, user["id"], 1)
                and e["subject"] == user["id"]
            )
        )
        assert later["ok"]
    assert await sessions_of(env, user["id"]) == 2
    assert len(events.of_type("user.logged_in.v1")) == 2


def _session_ids(events, subject: str, first: int) -> set[str]:
    return {e["data"]["session_id"] for e in events.of_type("user.logged_in.v1")[:first]}


async def test_a_message_without_an_id_runs_every_time_it_arrives(env):
    user = (await env.register(login=False))["user"]
    body = {"username": user["username"], "password": PASSWORD}
    connection = await aio_pika.connect(env.settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(env.settings.topology.commands, ensure=False)
        for _ in range(2):
            await exchange.publish(
                aio_pika.Message(v1.Login(**body).model_dump_json().encode()),
                routing_key=v1.login.routing_key,
            )
    await eventually(lambda: _sessions_reach(env, user["id"], 2))


async def _sessions_reach(env, public_id: str, n: int) -> bool:
    return await sessions_of(env, public_id) >= n


async def test_a_message_id_reused_with_another_body_is_invalid_params(env):
    message_id = uuid.uuid4().hex
    first = await env.call(
        v1.register, {"username": random_username(), "password": PASSWORD}, message_id=message_id
    )
    assert first["ok"]
    other = await env.call(
        v1.register, {"username": random_username(), "password": PASSWORD}, message_id=message_id
    )
    assert error_code(other) == "invalid_params"
    assert error_fields(other) == ["message_id"]


async def test_a_message_id_the_database_cannot_store_is_invalid_params(env):
    reply = await env.call(
        v1.register, {"username": random_username(), "password": PASSWORD}, message_id="a\x00b"
    )
    assert error_fields(reply) == ["message_id"]


async def test_a_redelivered_register_finds_its_code_answered_by_verifications_record(env):
    # What a crash leaves behind after verification consumed the code and before identity
    # committed: the code's check recorded under the id identity derives for its first call.
    email = random_email()
    code = await env.code(email, "register")
    message_id = uuid.uuid4().hex
    check = {"send_to": email, "scenario": "register", "code": code}
    # Identity redeems codes with redeem_code (internal exchange): the record is under it.
    redeem = verification.redeem_code
    assert (await env.call(redeem, check, message_id=f"{message_id}/1"))["ok"]
    reply = await env.call(
        v1.register, {"email": email, "code": code, "password": PASSWORD}, message_id=message_id
    )
    assert reply["ok"], reply
    assert reply["result"]["user"]["email_verified"] is True


async def test_a_recorded_login_reply_is_sealed_at_rest(env):
    user = (await env.register(login=False))["user"]
    message_id = uuid.uuid4().hex
    reply = await env.call(
        v1.login, {"username": user["username"], "password": PASSWORD}, message_id=message_id
    )
    token = reply["result"]["session"]["token"]
    async with env.identity.pool.acquire() as con:
        row = await con.fetchrow("SELECT * FROM replies WHERE message_id = $1", message_id)
    stored = bytes(row["reply"]) + bytes(row["request_mac"])
    for secret in (token, PASSWORD, user["username"]):
        assert secret.encode() not in stored


async def test_lookups_are_not_recorded(env):
    token = (await env.register())["session"]["token"]
    message_id = uuid.uuid4().hex
    assert (await env.call(v1.authenticate, {"token": token}, message_id=message_id))["ok"]
    async with env.identity.pool.acquire() as con:
        assert not await con.fetchval(
            "SELECT count(*) FROM replies WHERE message_id = $1", message_id
        )


async def test_a_replayed_send_code_gets_its_first_reply_and_sends_one_code(env):
    email = random_email()
    body = {"send_to": email, "scenario": "login", "channel": "inbox"}
    message_id = uuid.uuid4().hex
    first = await env.call(verification.send_code, body, message_id=message_id)
    again = await env.call(verification.send_code, body, message_id=message_id)
    assert first["ok"], first
    assert again == first  # not rate_limited by its own first send
    await env.inbox.code(email)
    # A barrier: a code to another address, sent after the replay, arrives after it would have.
    other = random_email()
    await env.code(other, "login")
    assert [d.send_to for d in env.inbox.received].count(email) == 1


async def test_a_send_whose_delivery_failed_leaves_no_code_and_a_resend_works_at_once(env):
    email = random_email()
    body = {"send_to": email, "scenario": "login", "channel": "inbox"}
    publisher = env.verification.publisher
    real = publisher.publish

    async def broker_gone(*args, **kwargs):
        raise ConnectionError("the broker went away mid-send")

    publisher.publish = broker_gone  # what a broker restart does to a send in flight
    try:
        failed = await env.call(verification.send_code, body)
    finally:
        publisher.publish = real
    assert error_code(failed) == "internal_error"
    async with env.verification.pool.acquire() as con:
        assert not await con.fetchval("SELECT count(*) FROM codes WHERE send_to = $1", email)
    resent = await env.call(verification.send_code, body)
    assert resent["ok"], resent  # no cooldown from a code that never left
    code = await env.inbox.code(email)
    check = {"send_to": email, "scenario": "login", "code": code}
    assert (await env.call(verification.redeem_code, check))["ok"]


async def test_a_reply_recorded_under_another_key_is_answered_honestly(make_settings):
    # A rotated GATEHOUSE_REPLY_KEY (or, before issue 21, any dev restart): the record can be
    # neither checked nor opened. The message ran once; saying its id was reused by another
    # request (`invalid_params`) would be false.
    before = make_settings(code_resend_cooldown_s=60)
    after = make_settings(
        code_resend_cooldown_s=60, namespace=before.namespace, reply_key=secrets.token_urlsafe(32)
    )
    email = random_email()
    body = {"send_to": email, "scenario": "login", "channel": "inbox"}
    message_id = uuid.uuid4().hex
    url = before.amqp_url.get_secret_value()
    async with RpcClient(url, before.topology, timeout_s=10) as rpc:
        # Verification first: it declares the channel's queue when the worker announces it.
        async with running(build_verification(before)), inbox_channels(before, ("inbox", "email")):
            first = await call(
                rpc, verification.send_code, body, message_id=message_id, idempotency_key="k"
            )
            assert first["ok"], first
        async with running(build_verification(after)):
            by_id = await call(rpc, verification.send_code, body, message_id=message_id)
            by_key = await call(rpc, verification.send_code, body, idempotency_key="k")
    for reply in (by_id, by_key):
        assert error_code(reply) == "invalid_operation", reply
        assert reply["error"]["details"] == {"already_answered": True}
