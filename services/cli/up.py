"""`gatehouse up`: every service in this process, in dev mode unless GATEHOUSE_MODE says."""

import argparse
import asyncio
import logging
import signal
from typing import Any
from urllib.parse import urlsplit

from gatehouse._loop import run as run_service
from services.cli.reach import probe_broker, reaching, redact
from services.ops import system
from services.ops.system import SystemSettings
from services.runtime import db
from services.runtime.health import HealthServer
from services.runtime.service import Service
from services.runtime.settings import Mode

log = logging.getLogger("gatehouse.cli")

TRY = (
    "gatehouse call verification.send_code.v1 "
    """'{"send_to": "you@example.com", "scenario": "login", "channel": "console"}'"""
)


def add(commands: Any) -> None:
    up = commands.add_parser(
        "up", help="run all services in this process (dev mode unless GATEHOUSE_MODE)"
    )
    up.set_defaults(run=run, mode=Mode.dev)


def run(args: argparse.Namespace, settings: SystemSettings) -> int:
    run_service(serve(settings))
    return 0


async def serve(settings: SystemSettings) -> None:
    database_url = settings.database_url.get_secret_value()
    amqp_url = settings.amqp_url.get_secret_value()
    # Both parts answer before anything starts, so a failure names the part that is down.
    async with reaching("database", database_url):
        if await db.ensure_database(database_url):
            log.info("created database %s", urlsplit(database_url).path.lstrip("/"))
    await probe_broker(amqp_url)
    services = system.build_services(settings)
    routes = {path: route for s in services for path, route in s.http_routes.items()}
    health = HealthServer(settings.http_port, [s.readiness for s in services], routes=routes)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started: list[Service] = []
    try:
        for service in services:
            await service.start()
            started.append(service)
        await health.start()
        print(
            f"Gatehouse is ready ({settings.mode.value} mode): "
            f"{', '.join(s.name for s in services)}\n"
            f"  broker    {redact(amqp_url)} (namespace {settings.namespace})\n"
            f"  database  {redact(database_url)}\n"
            f"  health    http://127.0.0.1:{health.port}/healthz /readyz /metrics"
            f"{''.join(' ' + path for path in routes)}\n"
            f"  admins    {_admins(settings)}\n"
            f"  try       {TRY}",
            flush=True,
        )
        await stop.wait()
        print("Gatehouse is stopping: finishing in-flight messages", flush=True)
    finally:
        await health.stop()
        # One service at a time, last started first: each stops consuming, lets its
        # in-flight messages finish, then closes (so identity still reaches verification).
        for service in reversed(started):
            await service.stop()


def _admins(settings: SystemSettings) -> str:
    """Who may run operator commands, as the services will check it."""
    names = ", ".join(sorted(settings.admitted_admins)) or "nobody (set GATEHOUSE_ADMIN_USERS)"
    if settings.is_dev:
        # Dev mode signs everything in as guest; production has four RabbitMQ roles.
        return f"{names} (dev mode: guest may run operator commands; docs: Who may do what)"
    return names
