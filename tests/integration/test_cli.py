"""The `gatehouse` command against a running verification service."""

import asyncio
import json
import os
import sys

import aio_pika
import pytest
from prometheus_client import REGISTRY

from contracts.verification import v1
from gatehouse.rpc import RpcClient
from services.verification.app import build
from tests.support import call, error_code, inbox_channels, random_email, running


@pytest.fixture(scope="module")
async def env(make_settings):
    settings = make_settings()
    async with running(build(settings)), inbox_channels(settings, ("inbox", "email")) as inbox:
        yield settings, inbox


def environment(settings) -> dict[str, str]:
    return {
        **os.environ,
        "GATEHOUSE_AMQP_URL": settings.amqp_url.get_secret_value(),
        "GATEHOUSE_DATABASE_URL": settings.database_url.get_secret_value(),
        "GATEHOUSE_NAMESPACE": settings.namespace,
        "GATEHOUSE_MODE": "prod",
    }


async def gatehouse(settings, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from services.cli import main; main()",
        *args,
        env=environment(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_call_prints_the_reply_and_exits_zero_on_success(env):
    settings, inbox = env
    email = random_email()
    body = json.dumps({"send_to": email, "scenario": "login", "channel": "inbox"})
    code, out, _ = await gatehouse(settings, "call", "verification.send_code.v1", body)
    assert code == 0
    assert json.loads(out)["ok"] is True
    await inbox.code(email)


async def test_call_exits_one_on_an_error_reply(env):
    settings, _ = env
    code, out, _ = await gatehouse(settings, "call", "verification.send_code.v9", "{}")
    assert code == 1
    assert json.loads(out)["error"]["code"] == "unknown_command"


async def test_events_prints_an_event_published_meanwhile(env):
    settings, _ = env
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from services.cli import main; main()",
        "events",
        "--type",
        "user.*",
        "--count",
        "1",
        env=environment(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    assert b"following" in await asyncio.wait_for(proc.stderr.readline(), 30)
    event = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "test",
        "type": "user.registered.v1",
        "time": "2026-01-01T00:00:00Z",
        "subject": "u_1",
        "data": {"user_id": "u_1"},
    }
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(settings.topology.events)
        await exchange.publish(aio_pika.Message(json.dumps(event).encode()), "notification.x.v1")
        await exchange.publish(aio_pika.Message(json.dumps(event).encode()), "user.registered.v1")
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    assert "user.registered.v1" in out.decode() and "u_1" in out.decode()


def commands_answered(routing_key: str, outcome: str) -> float:
    labels = {"command": routing_key, "outcome": outcome}
    return REGISTRY.get_sample_value("gatehouse_commands_total", labels) or 0.0


async def depth(channel: aio_pika.abc.AbstractChannel, queue: str) -> int:
    """Messages ready in `queue`, by the broker's own counter."""
    declared = await channel.declare_queue(queue, passive=True)
    return declared.declaration_result.message_count or 0


async def test_events_still_accepts_the_old_follow_flag(env):
    settings, _ = env
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        "events",
        "--follow",
        env=environment(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    assert b"--follow is the default" in await asyncio.wait_for(proc.stderr.readline(), 30)
    assert b"following" in await asyncio.wait_for(proc.stderr.readline(), 30)
    proc.terminate()
    await proc.wait()


async def test_dlq_list_and_replay(env):
    settings, _ = env
    topology = settings.topology
    work = topology.command_queue(v1.check_code.routing_key)
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    async with connection:
        channel = await connection.channel()
        dlq = await channel.get_queue(topology.dead_letter_queue(work))
        await channel.default_exchange.publish(
            aio_pika.Message(b"{}", message_id="dead-1"), routing_key=dlq.name
        )
        code, out, _ = await gatehouse(settings, "dlq", "list")
        assert code == 0 and dlq.name in out
        code, out, _ = await gatehouse(settings, "dlq", "list", work)
        assert code == 0 and "dead-1" in out
        answered = commands_answered(v1.check_code.routing_key, "invalid_params")
        code, out, _ = await gatehouse(settings, "dlq", "replay", work)
        assert code == 0 and "replayed 1" in out
        # Barrier: the service takes its queue in order, so once a call published after the
        # replay is answered, the replayed message was handled too.
        async with RpcClient(settings.amqp_url.get_secret_value(), settings.topology) as rpc:
            later = {"send_to": random_email(), "scenario": "verify_contact", "code": "000000"}
            assert error_code(await call(rpc, v1.check_code, later)) == "code_invalid"
        # It was answered (fire and forget: `{}` is invalid_params) and did not come back.
        assert commands_answered(v1.check_code.routing_key, "invalid_params") == answered + 1
        assert await depth(channel, dlq.name) == 0
        assert await depth(channel, work) == 0
