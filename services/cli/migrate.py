"""`gatehouse migrate`: every service's migrations, applied without starting anything."""

import argparse
import asyncio
from typing import Any

from services import system
from services.cli.reach import reaching
from services.runtime import db
from services.runtime.settings import Mode, Settings


def add(commands: Any) -> None:
    migrate = commands.add_parser("migrate", help="apply every service's migrations and exit")
    migrate.set_defaults(run=run, mode=Mode.prod)


def run(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(apply(settings))
    return 0


async def apply(settings: Settings) -> None:
    url = settings.database_url.get_secret_value()
    async with reaching("database", url):
        await db.ensure_database(url)
    for service in system.build_services(settings):
        async with reaching("database", url):
            pool = await db.create_pool(url, service.name, namespace=settings.namespace, max_size=1)
        try:
            applied = await db.migrate(pool, service.name, service.migrations)
        finally:
            await pool.close()
        print(f"{service.name}: {', '.join(applied) if applied else 'up to date'}")
