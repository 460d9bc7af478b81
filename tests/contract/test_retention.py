"""Retention (issue 11, finding 7): every table whose rows expire has a registered purge.

Reads every migration of the runtime and of each service (no database), works out the tables
each schema ends up with and their columns, and holds them against what the service registers
with `Service.retain`. A table with an expiry column (`*expires_at`, `window_start`,
`announced_at`, `published_at`) must have a purge; a table with only `created_at` /
`updated_at` must have one too, unless it is listed below as kept on purpose.
"""

import re
from pathlib import Path

import pytest

from services.identity import app as identity
from services.notifier import app as notifier
from services.ops.system import SystemSettings
from services.runtime import db
from services.runtime.service import Service
from services.verification import app as verification

APPS = {"identity": identity, "verification": verification, "notifier": notifier}

EXPIRY_COLUMNS = {"window_start", "announced_at", "published_at", "retires_at"}
TIMESTAMP_COLUMNS = {"created_at", "updated_at"}

# Tables whose rows live until an action removes them, not until a date passes.
KEPT = {
    ("identity", "users"): "an account lives until it is deregistered",
    ("identity", "credentials"): "lives and dies with its user (ON DELETE CASCADE)",
}

_CONSTRAINTS = {"primary", "unique", "check", "constraint", "foreign", "exclude", "like"}


def _statements(sql: str) -> list[str]:
    sql = re.sub(r"--[^\n]*", "", sql)
    sql = re.sub(r"\$\$.*?\$\$", "", sql, flags=re.S)  # function bodies create no tables
    return [s.strip() for s in sql.split(";") if s.strip()]


def _columns(body: str) -> set[str]:
    parts, depth, current = [], 0, ""
    for char in body:
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    names = {p.split()[0].strip('"').lower() for p in parts if p.strip()}
    return names - _CONSTRAINTS


def tables(files: list[Path]) -> dict[str, set[str]]:
    """Table → columns after applying the CREATE/ALTER/DROP statements of `files` in order."""
    found: dict[str, set[str]] = {}
    for path in files:
        for statement in _statements(path.read_text()):
            flat = " ".join(statement.split())
            if m := re.match(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+) \((.*)\)$", flat, re.I | re.S):
                found[m[1].lower()] = _columns(m[2])
            elif m := re.match(r"DROP TABLE (?:IF EXISTS )?(\w+)", flat, re.I):
                found.pop(m[1].lower(), None)
            elif m := re.match(r"ALTER TABLE (?:IF EXISTS )?(?:ONLY )?(\w+) (.*)", flat, re.I):
                name, action = m[1].lower(), m[2]
                if r := re.match(r"RENAME TO (\w+)", action, re.I):
                    found[r[1].lower()] = found.pop(name)
                    continue
                columns = found[name]
                for old, new in re.findall(r"RENAME (?:COLUMN )?(\w+) TO (\w+)", action, re.I):
                    columns.discard(old.lower())
                    columns.add(new.lower())
                for added in re.findall(r"ADD (?:COLUMN )?(?:IF NOT EXISTS )?(\w+)", action, re.I):
                    if added.lower() not in _CONSTRAINTS:
                        columns.add(added.lower())
                for dropped in re.findall(r"DROP (?:COLUMN )?(?:IF EXISTS )?(\w+)", action, re.I):
                    columns.discard(dropped.lower())
    return found


def schema_tables(name: str) -> dict[str, set[str]]:
    migrations = sorted(db.RUNTIME_MIGRATIONS.glob("[0-9]*.sql"))
    migrations += sorted(APPS[name].MIGRATIONS.glob("[0-9]*.sql"))
    return tables(migrations)


def built(name: str) -> Service:
    # Building connects nothing (see services.runtime.service): registrations are plain data.
    return APPS[name].build(SystemSettings(mode="dev", code_hmac_key="contract-test-key"))


def expiring(columns: set[str]) -> bool:
    return bool(columns & EXPIRY_COLUMNS) or any(c.endswith("expires_at") for c in columns)


@pytest.mark.parametrize("name", list(APPS))
def test_every_expiring_table_has_a_registered_purge(name):
    service = built(name)
    missing = []
    for table, columns in schema_tables(name).items():
        if table in service.retained:
            continue
        if expiring(columns):
            missing.append(f"{name}.{table} has {sorted(columns)} and no purge")
        elif columns & TIMESTAMP_COLUMNS and (name, table) not in KEPT:
            missing.append(f"{name}.{table} is timestamped: register a purge or list it in KEPT")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("name", list(APPS))
def test_every_registered_purge_names_a_table_of_its_schema(name):
    assert set(built(name).retained) <= set(schema_tables(name))


def test_the_migration_reader_sees_renames_and_added_columns():
    found = schema_tables("identity")
    assert "announced_at" in found["hooks"] and "registered_at" not in found["hooks"]
    assert {"app_metadata", "mfa_enabled"} <= found["users"]
    assert found["sessions"] >= {"expires_at", "absolute_expires_at"}
    assert {"idempotency", "outbox"} <= set(found)


def test_a_table_gets_one_purge():
    service = built("verification")
    with pytest.raises(ValueError, match="already has a purge"):
        service.retain("codes", service.retained["codes"].purge, "twice")
