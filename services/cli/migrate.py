"""`gatehouse migrate`: every service's migrations, applied without starting anything."""

import argparse
import asyncio
from typing import Any

from services.cli.reach import reaching
from services.ops import system
from services.runtime import db, db_roles
from services.runtime.settings import Mode, Settings


def add(commands: Any) -> None:
    migrate = commands.add_parser("migrate", help="apply every service's migrations and exit")
    migrate.add_argument(
        "--service",
        choices=db_roles.SERVICES,
        help="only this service's schema (signed in as its own role, it can reach no other)",
    )
    migrate.set_defaults(run=run, mode=Mode.prod)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        asyncio.run(apply(settings, args.service))
    except db.NotOwner as exc:
        print(f"gatehouse migrate: {exc} (sign in as that role, or as the database owner)")
        return 1
    return 0


async def apply(settings: Settings, only: str | None = None) -> None:
    url = settings.database_url.get_secret_value()
    async with reaching("database", url):
        await db.ensure_database(url)
    # By name and directory only: migrating needs no service built, so none of their
    # settings (a provider, a key) is asked for.
    for app in system.apps():
        if only not in (None, app.NAME):
            continue
        async with reaching("database", url):
            pool = await db.create_pool(url, app.NAME, namespace=settings.namespace, max_size=1)
        try:
            applied = await db.migrate(pool, app.NAME, app.MIGRATIONS)
        finally:
            await pool.close()
        print(f"{app.NAME}: {', '.join(applied) if applied else 'up to date'}")
