"""`gatehouse db-roles`: one PostgreSQL role per service, owning its schema (see
`services.runtime.db_roles`). Run it as the database owner or a superuser, before the services
sign in as their roles; `--sql` prints the statements instead."""

import argparse
import asyncio
import os
from typing import Any

import asyncpg

from services.cli.reach import reaching
from services.runtime import db, db_roles
from services.runtime.settings import Mode, Settings


def password_variable(service: str) -> str:
    return f"GATEHOUSE_DB_PASSWORD_{service.upper()}"


def add(commands: Any) -> None:
    parser = commands.add_parser(
        "db-roles",
        help="create a PostgreSQL role per service that owns its schema and nothing else",
        description="Creates (or updates) the roles <prefix>_identity, <prefix>_verification "
        "and <prefix>_notifier, gives each its schema, and hands over what an earlier "
        "installation made there. Passwords come from "
        + ", ".join(password_variable(s) for s in db_roles.SERVICES)
        + " when set (a role without one signs in only where PostgreSQL trusts another "
        "method). Connects with GATEHOUSE_DATABASE_URL, as the database owner or a superuser.",
    )
    parser.add_argument("--prefix", default=db_roles.DEFAULT_PREFIX, help="role name prefix")
    parser.add_argument("--sql", action="store_true", help="print the statements and exit")
    parser.set_defaults(run=run, mode=Mode.prod)


def run(args: argparse.Namespace, settings: Settings) -> int:
    passwords = {
        service: os.environ[password_variable(service)]
        for service in db_roles.SERVICES
        if os.environ.get(password_variable(service))
    }
    statements = db_roles.sql(args.prefix, passwords)
    if args.sql:
        print(statements, end="")
        return 0
    asyncio.run(apply(settings, statements))
    for service in db_roles.SERVICES:
        print(f"{service}: role {db_roles.role_name(args.prefix, service)} owns schema {service}")
    return 0


async def apply(settings: Settings, statements: str) -> None:
    url = settings.database_url.get_secret_value()
    async with reaching("database", url):
        await db.ensure_database(url)
        con = await asyncpg.connect(url)
    try:
        async with con.transaction():
            await con.execute(statements)
    finally:
        await con.close()
