"""A service as ops run it: `faststream run services.verification.app:app` in its own process.

Health endpoints answer, message counters move after a command, and SIGTERM while commands are
in flight loses none: what was being handled is answered before exit, what was still queued
is answered by the replacement, and the process exits 0.
"""

import asyncio
import json
import signal
import uuid

from contracts.verification import v1
from gatehouse.rpc import RpcClient
from tests.process_support import free_port, http_get, start_service
from tests.support import call, inbox_channels


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
