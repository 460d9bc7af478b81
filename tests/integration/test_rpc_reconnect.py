"""The RPC client keeps working after the broker drops its connection: aio-pika reconnects and
restores the channel, and the client listens for replies again (the fault suite found it deaf
after a broker restart: every later call failed)."""

import shutil
import subprocess
import uuid
from urllib.parse import urlsplit

import pytest

from contracts.verification import v1
from gatehouse.rpc import RpcClient
from services.verification.app import build as build_verification
from tests.support import eventually, random_email, running

pytestmark = pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="no rabbitmqctl")


def close_connection(name: str) -> None:
    """Have the broker close the connection the client named `name`, as a restart would."""
    listed = subprocess.run(
        ["rabbitmqctl", "list_connections", "pid", "client_properties", "--quiet"],
        capture_output=True,
        text=True,
        check=True,
    )
    pids = [line.split("\t", 1)[0] for line in listed.stdout.splitlines() if name in line]
    assert len(pids) == 1, listed.stdout
    subprocess.run(["rabbitmqctl", "close_connection", pids[0], "test"], check=True)


def retrying_soon(url: str) -> str:
    """`url` with aio-pika's reconnect interval cut from 5 s: the tests need a reconnect, not
    the wait for it."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, "reconnect_interval=0.2") if q)
    return parts._replace(query=query).geturl()


async def test_calls_are_answered_again_after_the_broker_closed_the_connection(make_settings):
    settings = make_settings()
    name = f"rpc-reconnect-{uuid.uuid4().hex[:8]}"
    async with running(build_verification(settings)):
        url = retrying_soon(settings.amqp_url.get_secret_value())
        rpc = RpcClient(url, settings.topology, name=name)
        await rpc.connect()
        try:
            check = {"send_to": random_email(), "scenario": "verify_contact", "code": "000000"}
            assert (await rpc.call(v1.check_code, check))["error"]["code"] == "code_invalid"
            close_connection(name)

            async def answered() -> bool:
                try:
                    reply = await rpc.call(v1.check_code, check, timeout_s=1)
                except Exception:  # still reconnecting
                    return False
                return reply.get("error", {}).get("code") == "code_invalid"

            await eventually(answered, timeout_s=30, interval_s=0.1)
        finally:
            await rpc.close()


async def test_a_client_with_a_reply_queue_of_its_own_is_answered_again_after_a_drop(
    make_settings,
):
    """Identity's hook client is answered in an exclusive queue of its own (hook workers may
    not use the default exchange): aio-pika must declare, bind and consume it again."""
    settings = make_settings()
    topology = settings.topology
    name = f"rpc-reconnect-{uuid.uuid4().hex[:8]}"
    replies = (topology.workers, f"{topology.hook_replies_prefix}{uuid.uuid4().hex}")
    async with running(build_verification(settings)):
        url = retrying_soon(settings.amqp_url.get_secret_value())
        rpc = RpcClient(url, topology, name=name, replies=replies)
        await rpc.connect()
        try:
            check = {"send_to": random_email(), "scenario": "verify_contact", "code": "000000"}
            assert (await rpc.call(v1.check_code, check))["error"]["code"] == "code_invalid"
            close_connection(name)

            async def answered() -> bool:
                try:
                    reply = await rpc.call(v1.check_code, check, timeout_s=1)
                except Exception:  # still reconnecting
                    return False
                return reply.get("error", {}).get("code") == "code_invalid"

            assert await eventually(answered, timeout_s=30, interval_s=0.1)
        finally:
            await rpc.close()
