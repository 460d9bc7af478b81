"""Running a service as ops do, in a process of its own: `faststream run services.<x>.app:app`."""

import asyncio
import os
import socket
import sys

import pytest

from services.ops.system import SystemSettings


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


async def start_service(
    settings: SystemSettings,
    port: int,
    app: str = "services.verification.app:app",
    extra_env: dict[str, str] | None = None,
    without: tuple[str, ...] = (),
) -> asyncio.subprocess.Process:
    """Start the service and wait until its /readyz answers 200 (`without`: variables left
    unset, e.g. the keys a dev mode process makes itself)."""
    env = {
        **os.environ,
        "GATEHOUSE_AMQP_URL": settings.amqp_url.get_secret_value(),
        "GATEHOUSE_DATABASE_URL": settings.database_url.get_secret_value(),
        "GATEHOUSE_NAMESPACE": settings.namespace,
        "GATEHOUSE_MODE": "prod",
        "GATEHOUSE_CODE_HMAC_KEY": settings.code_key.decode(),
        "GATEHOUSE_REPLY_KEY": "process-test-reply-key-0123456789abcdefghij",
        "GATEHOUSE_QUEUE_TYPE": settings.queue_type,
        "GATEHOUSE_HTTP_PORT": str(port),
        **(extra_env or {}),
    }
    for variable in without:
        env.pop(variable, None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "faststream",
        "run",
        app,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            if (await http_get(port, "/readyz"))[0] == 200:
                return proc
        except OSError:
            pass
        await asyncio.sleep(0.1)
    proc.kill()
    pytest.fail(f"{app} did not become ready")
