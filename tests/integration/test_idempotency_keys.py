"""Idempotency keys belong to their caller and to their request (issue 21, point 4).

The attack reproduced: user A calls `get_properties` with key K; user B, with B's own token and
the same K, got A's properties. Here A and B are two real RabbitMQ users (the AMQP `user_id`
RabbitMQ checks), or one caller with two end users' tokens.
"""

import asyncio
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, urlsplit

import pytest

from contracts.envelope import Contract
from contracts.identity import v1
from contracts.topology import Command
from gatehouse.rpc import RpcClient, amqp_user
from services.runtime.service import Service
from services.runtime.work import UnitOfWork
from tests.identity_support import env_settings, identity_env
from tests.support import call, error_code, error_fields, running


class Echo(Contract):
    text: str = ""
    fail_first: bool = False


class Echoed(Contract):
    text: str
    run: str  # a fresh id per run of the handler: tells a stored reply from a new run


ECHO = Command("idem", "echo", 1, Echo, Echoed, "Echo, with an id per run.")


@contextmanager
def rabbitmq_user() -> Iterator[str]:
    """A second RabbitMQ user (another caller), deleted on the way out."""
    user, password = f"gatehouse-test-idem-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    subprocess.run(["rabbitmqctl", "add_user", user, password], check=True, capture_output=True)
    try:
        subprocess.run(
            ["rabbitmqctl", "set_permissions", "-p", "/", user, ".*", ".*", ".*"],
            check=True,
            capture_output=True,
        )
        yield f"{quote(user)}:{password}"
    finally:
        subprocess.run(["rabbitmqctl", "delete_user", user], capture_output=True)


def as_user(url: str, credentials: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=f"{credentials}@{parts.hostname}:{parts.port or 5672}").geturl()


def client(url: str, settings) -> RpcClient:
    # Every request carries the connection's user as its AMQP user_id (RabbitMQ checks it).
    return RpcClient(url, settings.topology, timeout_s=10, user_id=amqp_user(url))


@pytest.fixture(scope="module")
def other_caller() -> Iterator[str]:
    with rabbitmq_user() as credentials:
        yield credentials


@pytest.fixture(scope="module")
async def identity(make_settings):
    async with identity_env(env_settings(make_settings), with_verification=False) as env:
        yield env


@pytest.fixture(scope="module")
async def echo(make_settings, tmp_path_factory, other_caller):
    settings = make_settings()
    service = Service("idemtest", settings, tmp_path_factory.mktemp("migrations"))
    runs: list[str] = []
    failed: set[str] = set()

    async def handle(uow: UnitOfWork, request: Echo) -> Echoed:
        if request.fail_first and request.text not in failed:
            failed.add(request.text)
            raise RuntimeError("an outage")
        await asyncio.sleep(0.05)
        runs.append(request.text)
        return Echoed(text=request.text, run=uuid.uuid4().hex)

    service.command(ECHO, handle)
    url = settings.amqp_url.get_secret_value()
    async with (
        running(service),
        client(url, settings) as a,
        client(as_user(url, other_caller), settings) as b,
    ):
        yield a, b, runs, settings


async def test_another_callers_key_never_returns_my_properties(identity, other_caller):
    url = identity.settings.amqp_url.get_secret_value()
    alice = await identity.register(properties={"secretNote": "alice's"})
    bob = await identity.register(properties={"secretNote": "bob's"})
    async with (
        client(url, identity.settings) as a,
        client(as_user(url, other_caller), identity.settings) as b,
    ):
        mine = await call(
            a, v1.get_properties, {"token": alice["session"]["token"]}, idempotency_key="K"
        )
        assert mine["result"]["properties"]["secretNote"] == "alice's"
        theirs = await call(
            b, v1.get_properties, {"token": bob["session"]["token"]}, idempotency_key="K"
        )
        assert theirs["result"]["properties"]["secretNote"] == "bob's"
        # One caller serving two end users: the key never hands over the first one's reply.
        same_caller = await call(
            a, v1.get_properties, {"token": bob["session"]["token"]}, idempotency_key="K"
        )
        assert same_caller["result"]["properties"]["secretNote"] == "bob's"
    # A lookup keeps no reply at all.
    kept = await identity.identity.pool.fetchval(
        "SELECT count(*) FROM idempotency WHERE routing_key = $1", v1.get_properties.routing_key
    )
    assert kept == 0


async def test_a_key_reused_by_another_caller_runs_for_that_caller(echo):
    a, b, _, _ = echo
    first = await call(a, ECHO, {"text": "same"}, idempotency_key="shared")
    other = await call(b, ECHO, {"text": "same"}, idempotency_key="shared")
    again = await call(a, ECHO, {"text": "same"}, idempotency_key="shared")
    assert first["ok"] and other["ok"]
    assert other["result"]["run"] != first["result"]["run"]  # B never gets A's reply
    assert again == first  # A's replay still gets A's


async def test_a_message_without_user_id_is_a_caller_of_its_own(echo):
    a, _, _, settings = echo
    first = await call(a, ECHO, {"text": "anon"}, idempotency_key="anon-key")
    url = settings.amqp_url.get_secret_value()
    async with RpcClient(url, settings.topology, timeout_s=10) as anonymous:
        other = await call(anonymous, ECHO, {"text": "anon"}, idempotency_key="anon-key")
    assert other["ok"] and other["result"]["run"] != first["result"]["run"]


async def test_the_same_key_with_another_body_is_invalid_params_naming_the_key(echo):
    a, _, runs, _ = echo
    first = await call(a, ECHO, {"text": "one"}, idempotency_key="bound")
    assert first["ok"]
    other = await call(a, ECHO, {"text": "two"}, idempotency_key="bound")
    assert error_code(other) == "invalid_params"
    assert error_fields(other) == ["idempotency-key"]
    assert "two" not in runs
    # Spelled another way, the same request is still the same request.
    respaced = await call(a, ECHO, b'{ "text" : "one" }', idempotency_key="bound")
    assert respaced == first


async def test_concurrent_callers_with_one_key_run_the_command_once(echo):
    a, _, runs, _ = echo
    replies = await asyncio.gather(
        *(call(a, ECHO, {"text": "burst"}, idempotency_key="burst") for _ in range(10))
    )
    assert all(r == replies[0] for r in replies) and replies[0]["ok"], replies
    assert runs.count("burst") == 1


async def test_a_key_is_released_after_an_internal_error(echo):
    a, _, runs, _ = echo
    body = {"text": "flaky", "fail_first": True}
    failed = await call(a, ECHO, body, idempotency_key="flaky")
    assert error_code(failed) == "internal_error"
    retried = await call(a, ECHO, body, idempotency_key="flaky")
    assert retried["ok"], retried
    assert runs.count("flaky") == 1
    assert await call(a, ECHO, body, idempotency_key="flaky") == retried
