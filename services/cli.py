"""`gatehouse`: run the system, call a command, and operate a running installation."""

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from aiormq.exceptions import AMQPError

from services.runtime import db, logs
from services.runtime.health import HealthServer
from services.runtime.rpc import RpcClient
from services.runtime.service import Service
from services.runtime.service import run as run_service
from services.runtime.settings import Mode, Settings

SERVICES = ("verification", "identity", "notifier")

log = logging.getLogger("gatehouse.cli")


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return parts.geturl()


def _settings(default_mode: Mode = Mode.prod) -> Settings:
    if "GATEHOUSE_MODE" in os.environ:
        return Settings()
    return Settings(mode=default_mode)


def build_services(settings: Settings) -> list[Service]:
    return [importlib.import_module(f"services.{name}.app").build(settings) for name in SERVICES]


# up ---------------------------------------------------------------------------------------


async def _up(settings: Settings) -> None:
    database_url = settings.database_url.get_secret_value()
    if await db.ensure_database(database_url):
        log.info("created database %s", urlsplit(database_url).path.lstrip("/"))
    services = build_services(settings)
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
            f"  broker    {_redact(settings.amqp_url.get_secret_value())}"
            f" (namespace {settings.namespace})\n"
            f"  database  {_redact(database_url)}\n"
            f"  health    http://127.0.0.1:{health.port}/healthz /readyz /metrics"
            f"{''.join(' ' + path for path in routes)}\n"
            "  try       gatehouse call verification.send_code.v1 "
            """'{"send_to": "you@example.com", "scenario": "login", "channel": "console"}'""",
            flush=True,
        )
        await stop.wait()
        print("Gatehouse is stopping: finishing in-flight messages", flush=True)
    finally:
        await health.stop()
        # Stop consuming everywhere first, then let each finish and close.
        for service in reversed(started):
            await service.stop()


# call -------------------------------------------------------------------------------------


async def _call(settings: Settings, routing_key: str, body: str, args: argparse.Namespace) -> int:
    async with RpcClient(
        settings.amqp_url.get_secret_value(), settings.topology, timeout_s=args.timeout
    ) as rpc:
        reply = await rpc.call_raw(routing_key, body.encode(), idempotency_key=args.idempotency_key)
    decoded = json.loads(reply)
    print(json.dumps(decoded, indent=2, ensure_ascii=False))
    return 0 if decoded.get("ok") else 1


# migrate ----------------------------------------------------------------------------------


async def _migrate(settings: Settings) -> None:
    url = settings.database_url.get_secret_value()
    await db.ensure_database(url)
    for service in build_services(settings):
        pool = await db.create_pool(url, service.name, max_size=1)
        try:
            applied = await db.migrate(pool, service.name, service.migrations)
        finally:
            await pool.close()
        print(f"{service.name}: {', '.join(applied) if applied else 'up to date'}")


# schemas ----------------------------------------------------------------------------------


def _schemas(check: bool) -> int:
    from services import schema_files

    root = Path(__file__).resolve().parent.parent
    expected = schema_files.render()
    if check:
        problems = schema_files.check(root, expected)
        for line in problems:
            print(line)
        return 1 if problems else 0
    for line in schema_files.breaking_report(root, expected):
        print(line)
    schema_files.write(root, expected)
    print(f"wrote {len(expected)} files under {root}")
    return 0


# keys -------------------------------------------------------------------------------------


async def _keys(settings: Settings, action: str) -> int:
    """`gatehouse keys rotate|list`: identity's access token signing keys."""
    from services.identity import app as identity
    from services.identity import signing_keys, store

    url = settings.database_url.get_secret_value()
    pool = await db.create_pool(url, identity.NAME, max_size=1)
    try:
        await db.migrate(pool, identity.NAME, identity.MIGRATIONS)
        if action == "rotate":
            try:
                key = await signing_keys.rotate(pool, settings)
            except ValueError as exc:  # no secret in prod mode
                print(f"gatehouse: {exc}", file=sys.stderr)
                return 1
            except signing_keys.SealedKeyError:
                print(
                    "gatehouse: GATEHOUSE_SIGNING_KEY_SECRET does not open the current signing "
                    "key: rotate with the secret the identity service runs with",
                    file=sys.stderr,
                )
                return 1
            print(f"added {key['kid']} ({key['alg']}); it signs from {key['activates_at']:%c %Z}")
            return 0
        print(f"{'kid':44}  {'alg':5}  {'created':25}  {'signs from':25}  retiring at")
        for row in await store.signing_keys(pool, retired=True):
            retiring = f"{row['retires_at']:%F %T%z}" if row["retires_at"] else "-"
            print(
                f"{row['kid']:44}  {row['alg']:5}  {row['created_at']:%F %T%z}      "
                f"{row['activates_at']:%F %T%z}      {retiring}"
            )
        return 0
    finally:
        await pool.close()


# entry point ------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gatehouse", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run all services in this process (dev mode unless GATEHOUSE_MODE)")
    call = sub.add_parser("call", help="send a command and print the reply (exit 1 on error)")
    call.add_argument("routing_key", help="e.g. verification.send_code.v1")
    call.add_argument("body", nargs="?", default="{}", help="JSON request body")
    call.add_argument("--timeout", type=float, default=10.0)
    call.add_argument("--idempotency-key")
    sub.add_parser("migrate", help="apply every service's migrations and exit")
    keys = sub.add_parser("keys", help="access token signing keys (GATEHOUSE_ACCESS_TOKENS=jwt)")
    keys.add_argument(
        "action",
        choices=("rotate", "list"),
        help="rotate: add the next signing key (published first, signing once every replica "
        "has it); list: every stored key",
    )
    schemas = sub.add_parser(
        "schemas", help="write contracts/schemas/ and docs/reference.md from the contracts"
    )
    schemas.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if the files are stale or a change breaks the baseline's users",
    )
    from services import operator_cli

    operator_cli.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        settings = _settings(Mode.dev if args.command == "up" else Mode.prod)
    except ValueError as exc:
        sys.exit(f"gatehouse: invalid settings: {exc}")
    logs.configure(settings.log_level, settings.log_json)
    code = 0
    with contextlib.suppress(KeyboardInterrupt):
        try:
            code = _dispatch(args, settings)
        except (OSError, ConnectionError, AMQPError) as exc:
            sys.exit(f"gatehouse: broker: {type(exc).__name__}: {exc}")
        except asyncpg.PostgresError as exc:
            sys.exit(f"gatehouse: database: {type(exc).__name__}: {exc}")
    sys.exit(code)


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "up":
        run_service(_up(settings))
        return 0
    if args.command == "call":
        return asyncio.run(_call(settings, args.routing_key, args.body, args))
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        return 0
    if args.command == "schemas":
        return _schemas(args.check)
    if args.command == "keys":
        return asyncio.run(_keys(settings, args.action))
    from services import operator_cli

    result: Any = operator_cli.dispatch(args, settings)
    return int(result or 0)
