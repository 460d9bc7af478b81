"""A service as ops run it: `faststream run services.verification.app:app` in its own process.

Health endpoints answer, message counters move after a command, and SIGTERM while commands are
in flight loses none: what was being handled is answered before exit, what was still queued
is answered by the replacement, and the process exits 0.
"""

import asyncio
import json
import os
import signal
import socket
import sys
import uuid

import pytest

from contracts.verification import v1
from services.runtime.rpc import RpcClient
from tests.support import call, inbox_channels


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def http_get(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


async def start_service(settings, port: int) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "GATEHOUSE_AMQP_URL": settings.amqp_url.get_secret_value(),
        "GATEHOUSE_DATABASE_URL": settings.database_url.get_secret_value(),
        "GATEHOUSE_NAMESPACE": settings.namespace,
        "GATEHOUSE_MODE": "prod",
        "GATEHOUSE_CODE_HMAC_KEY": "process-test-key",
        "GATEHOUSE_QUEUE_TYPE": settings.queue_type,
        "GATEHOUSE_HTTP_PORT": str(port),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "faststream",
        "run",
        "services.verification.app:app",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            if (await http_get(port, "/readyz"))[0] == 200:
                return proc
        except OSError:
            pass
        await asyncio.sleep(0.1)
    proc.kill()
    pytest.fail("the service did not become ready")


async def test_health_metrics_and_graceful_shutdown_of_a_service_process(make_settings):
    settings = make_settings()
    port = free_port()
    proc = await start_service(settings, port)
    async with (
        inbox_channels(settings, ("inbox", "email")),
        RpcClient(settings.amqp_url.get_secret_value(), settings.topology, timeout_s=60) as rpc,
    ):
        assert await http_get(port, "/healthz") == (200, "ok\n")
        status, body = await http_get(port, "/readyz")
        assert status == 200 and all(json.loads(body).values())

        def sends(n: int) -> list[asyncio.Task]:
            return [
                asyncio.create_task(
                    call(
                        rpc,
                        v1.send_code,
                        {
                            "send_to": f"{uuid.uuid4().hex}@example.com",
                            "scenario": "login",
                            "channel": "inbox",
                        },
                    )
                )
                for _ in range(n)
            ]

        assert all(r["ok"] for r in await asyncio.gather(*sends(5)))
        _, metrics = await http_get(port, "/metrics")
        assert (
            'gatehouse_commands_total{command="verification.send_code.v1",outcome="ok"} 5.0'
            in metrics
        )

        in_flight = sends(300)
        await asyncio.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0

        replacement = await start_service(settings, free_port())
        try:
            replies = await asyncio.wait_for(asyncio.gather(*in_flight), 60)
        finally:
            replacement.send_signal(signal.SIGTERM)
            await asyncio.wait_for(replacement.wait(), 30)
    assert all(r["ok"] for r in replies), [r for r in replies if not r["ok"]][:3]
