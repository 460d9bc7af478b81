"""The hand-written references (benchmarks/references/) work on the tables ours has: every
table they create has our columns, defaults and indexes after our migrations, so a ratio
against them compares the same database work."""

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from benchmarks.references import schema
from services.ops import scratch
from services.runtime import db
from tests import infra

ROOT = Path(__file__).resolve().parents[2]


Shape = tuple[list[tuple[object, ...]], list[str], list[str]]


async def _shape(url: str, service: str) -> dict[str, Shape]:
    con = await asyncpg.connect(url)
    try:
        tables = await con.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", service
        )
        shape: dict[str, Shape] = {}
        for (table,) in tables:
            columns = await con.fetch(
                "SELECT column_name, data_type, is_nullable, column_default"
                " FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2"
                " ORDER BY column_name",
                service,
                table,
            )
            indexes = await con.fetch(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2",
                service,
                table,
            )
            triggers = await con.fetch(
                "SELECT pg_get_triggerdef(oid) FROM pg_trigger"
                " WHERE tgrelid = ($1 || '.' || $2)::regclass AND NOT tgisinternal",
                service,
                table,
            )
            shape[table] = (
                [tuple(c) for c in columns],
                sorted(i[0] for i in indexes),
                sorted(t[0] for t in triggers),
            )
        return shape
    finally:
        await con.close()


async def _functions(url: str, service: str) -> dict[str, str]:
    """Every function of the schema by its signature, with its definition."""
    con = await asyncpg.connect(url)
    try:
        rows = await con.fetch(
            "SELECT p.oid::regprocedure::text AS name, pg_get_functiondef(p.oid) AS body"
            " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1",
            service,
        )
        return {r["name"]: r["body"] for r in rows}
    finally:
        await con.close()


@pytest.fixture(scope="module")
async def databases(infrastructure: tuple[str, str]) -> AsyncIterator[tuple[str, str]]:
    _, admin = infrastructure
    names = [f"gatehouse_test_{infra.RUN_ID}_refs_{side}" for side in ("ours", "ref")]
    urls = [infra.database_url(admin, name) for name in names]
    for url in urls:
        await db.ensure_database(url)
    try:
        yield urls[0], urls[1]
    finally:
        for name in names:
            await scratch.drop_database(admin, name)


@pytest.mark.parametrize("service", sorted(schema.SCHEMAS))
async def test_each_reference_table_is_ours_after_our_migrations(
    databases: tuple[str, str], service: str
) -> None:
    ours_url, ref_url = databases
    pool = await db.create_pool(ours_url, service, namespace="refs")
    try:
        await db.migrate(pool, service, ROOT / "services" / service / "migrations")
    finally:
        await pool.close()
    await schema.create(ref_url, service)
    ours, references = await _shape(ours_url, service), await _shape(ref_url, service)
    assert references
    for table, (columns, indexes, triggers) in references.items():
        our_columns, our_indexes, our_triggers = ours[table]
        assert columns == our_columns, table
        assert indexes == our_indexes, table
        # The only trigger ours has that a reference leaves out fills users.username_key on
        # insert, which no reference does on a measured path (see references.schema).
        if table != "users":
            assert triggers == our_triggers, table
    our_functions = await _functions(ours_url, service)
    for name, body in (await _functions(ref_url, service)).items():
        assert body == our_functions[name], name
