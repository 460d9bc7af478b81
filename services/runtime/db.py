"""asyncpg pools and the SQL migration runner.

Each service owns one PostgreSQL schema. Its pool sets `search_path` to that schema, so the
SQL in store modules and migrations is written unqualified and a service cannot read another
service's tables by accident.

A migration is a `NNN_name.sql` file, or, when it needs Python (a value only Python computes,
such as a username's canonical key), a `NNN_name.py` module with `async def apply(con)`. Both
run in order of their names, each in its own transaction, under the same lock.
"""

import hashlib
import importlib.util
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeAlias, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

log = logging.getLogger("gatehouse.db")

RUNTIME_MIGRATIONS = Path(__file__).parent / "migrations"

# What a transaction block hands out: a pool's proxy of a connection, or a connection of its
# own. asyncpg's types tell the two apart; they answer the same methods.
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
# Anything one statement can run on.
Conn: TypeAlias = Connection | asyncpg.Pool


class _Connection(asyncpg.Connection):
    """Returned to the pool without asyncpg's reset query (`RESET ALL; UNLISTEN *; ...`).

    That query is a round trip on every release, a measurable share of a short command. Our
    code leaves no session state behind: no SET, advisory locks are transaction-scoped or
    released in `finally`, listeners are removed before release, and asyncpg still rolls
    back an open transaction and drops local callbacks without the query.
    """

    def get_reset_query(self) -> str:
        return ""


def _server_settings(schema: str, namespace: str, purpose: str | None = None) -> dict[str, str]:
    name = f"gatehouse-{schema}" + (f"-{purpose}" if purpose else "")
    # `gatehouse.namespace` stamps the outbox rows this connection writes (runtime migration
    # 007), so a relay publishes only its own namespace's rows from a shared database.
    return {"search_path": schema, "application_name": name, "gatehouse.namespace": namespace}


async def create_pool(url: str, schema: str, *, namespace: str, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=max_size,
        connection_class=_Connection,
        server_settings=_server_settings(schema, namespace),
    )


async def connect(url: str, schema: str, purpose: str, *, namespace: str) -> asyncpg.Connection:
    """A connection outside the pool, with the pool's settings and its `purpose` in its
    `application_name` (`gatehouse-<schema>-<purpose>`), so operators can tell it apart."""
    # Bounded: a connect that hangs on a half-dead network must not stall a reconnect loop.
    return await asyncpg.connect(
        url, timeout=10, server_settings=_server_settings(schema, namespace, purpose)
    )


class NotOwner(Exception):
    """The role signed in can neither own nor act as the owner of a schema it must migrate."""


Row = TypeVar("Row")


def one(row: Row | None) -> Row:
    """The row of a statement that always returns one (an INSERT … RETURNING, an aggregate,
    an UPDATE of a row the transaction holds). None here is a bug, and answered as one."""
    assert row is not None, "the statement returned no row"
    return row


async def delete(con: Conn, sql: str, *args: object) -> int:
    """Run a DELETE; returns how many rows it removed (from the command tag, `DELETE n`)."""
    tag = await con.execute(sql, *args)
    return int(tag.split()[-1])


async def ensure_database(url: str) -> bool:
    """Create the database named in `url` if it does not exist. Returns True when created."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name:
        return False
    admin = urlunsplit(parts._replace(path="/postgres"))
    con = await asyncpg.connect(admin)
    try:
        if await con.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        try:
            await con.execute(f'CREATE DATABASE "{name}"')
        except asyncpg.DuplicateDatabaseError:
            return False
        return True
    finally:
        await con.close()


def _migration_files(directory: Path, prefix: str) -> list[tuple[str, Path]]:
    paths = [*directory.glob("[0-9]*.sql"), *directory.glob("[0-9]*.py")]
    return [(f"{prefix}/{path.stem}", path) for path in sorted(paths, key=lambda p: p.name)]


def _migration(path: Path) -> Callable[[Connection], Awaitable[object]]:
    """What applies the migration at `path`, given the connection of its transaction."""
    if path.suffix == ".sql":
        sql = path.read_text()
        return lambda con: con.execute(sql)
    spec = importlib.util.spec_from_file_location(f"gatehouse_migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    apply: Callable[[Connection], Awaitable[object]] = module.apply
    return apply


async def migrate(pool: asyncpg.Pool, schema: str, service_migrations: Path) -> list[str]:
    """Apply pending migrations of the runtime and of one service inside `schema`.

    An advisory lock per schema makes concurrent start-ups of several replicas safe: the
    second waits, then finds nothing left to do. Returns the versions it applied.
    """
    files = _migration_files(RUNTIME_MIGRATIONS, "runtime") + _migration_files(
        service_migrations, schema
    )
    lock_id = int.from_bytes(
        hashlib.sha256(f"gatehouse:{schema}".encode()).digest()[:8], "big", signed=True
    )
    applied: list[str] = []
    async with pool.acquire() as con:
        await con.execute("SELECT pg_advisory_lock($1)", lock_id)
        try:
            await _become_owner(con, schema)
            await con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await con.fetch("SELECT version FROM schema_migrations")}
            for version, path in files:
                if version in done:
                    continue
                async with con.transaction():
                    await _migration(path)(con)
                    await con.execute(
                        "INSERT INTO schema_migrations (version) VALUES ($1)", version
                    )
                applied.append(version)
                log.info("applied migration %s", version)
        finally:
            await con.execute("RESET ROLE")  # pooled connections keep no session state
            await con.execute("SELECT pg_advisory_unlock($1)", lock_id)
    return applied


async def _become_owner(con: Connection, schema: str) -> None:
    """Act as the owner of `schema`, creating it if it is missing.

    With a role per service (`services.runtime.db_roles`) the schema belongs to the service's
    role: the service, signed in as that role, needs no right to create schemas in the
    database; an operator running `gatehouse migrate` as the database owner (a member of
    every service role) creates what the migrations make as the schema's owner, so the
    service can use it.
    """
    owner = await con.fetchval(
        "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = $1", schema
    )
    if owner is None:
        await con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        return
    me, member = one(await con.fetchrow("SELECT current_user, pg_has_role($1, 'MEMBER')", owner))
    if owner == me:
        return
    if not member:
        raise NotOwner(f"{me} cannot migrate schema {schema}: it belongs to {owner}")
    await con.execute('SET ROLE "{}"'.format(owner.replace('"', '""')))


async def pending_migrations(
    pool: asyncpg.Pool, schema: str, service_migrations: Path
) -> list[str]:
    files = _migration_files(RUNTIME_MIGRATIONS, "runtime") + _migration_files(
        service_migrations, schema
    )
    async with pool.acquire() as con:
        try:
            done = {r["version"] for r in await con.fetch("SELECT version FROM schema_migrations")}
        except asyncpg.UndefinedTableError:
            done = set()
    return [version for version, _ in files if version not in done]
