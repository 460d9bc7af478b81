"""The username keys migration on a database that already holds look-alike usernames (as
today's code let them in): it must not fail, and it must leave the oldest account with each
name and every account able to sign in some way."""

import logging
import shutil
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.identity import app as identity_app
from services.identity import store
from services.identity.domain import Identifier, IdKind
from services.identity.usernames import canonical
from services.runtime import db
from tests.identity_support import own_database

FULLWIDTH_ADMIN = "\uff41\uff44\uff4d\uff49\uff4e"
CYRILLIC_ADMIN = "\u0430dmin"
T0 = datetime(2026, 1, 1, tzinfo=UTC)

# (public id, username, email): in order of creation.
EXISTING = [
    ("u_admin", "Admin", None),
    ("u_fullwidth", FULLWIDTH_ADMIN, "fullwidth@example.com"),  # same key as Admin
    ("u_cyrillic", CYRILLIC_ADMIN, None),  # same skeleton as Admin, another key
    ("u_joiner", "ad\u200dmin", None),  # an invisible joiner: same skeleton too
    ("u_strasse", "Stra\u00dfe", None),
    ("u_upper", "STRASSE", None),  # lower() kept it apart from Straße; case folding does not
    ("u_plain", "plain_user", None),
]


@pytest.fixture
async def pool(infrastructure, tmp_path):
    async with own_database(infrastructure) as url:
        pool = await db.create_pool(url, identity_app.NAME, namespace="migration-test")
        try:
            # The schema as it was before: every identity migration before 008.
            for path in sorted(identity_app.MIGRATIONS.glob("00[1-7]_*.sql")):
                shutil.copy(path, tmp_path / path.name)
            await db.migrate(pool, identity_app.NAME, tmp_path)
            for i, (public_id, username, email) in enumerate(EXISTING):
                await pool.execute(
                    "INSERT INTO users (public_id, username, email, created_at)"
                    " VALUES ($1, $2, $3, $4)",
                    public_id,
                    username,
                    email,
                    T0 + timedelta(minutes=i),
                )
            yield pool
        finally:
            await pool.close()


async def test_existing_look_alikes_do_not_fail_the_migration_and_the_oldest_keeps_the_name(
    pool, caplog
):
    caplog.set_level(logging.WARNING, logger="gatehouse.db")
    applied = await db.migrate(pool, identity_app.NAME, identity_app.MIGRATIONS)
    assert "identity/008_username_keys" in applied
    rows = {
        r["public_id"]: (r["username"], r["username_key"], r["username_skeleton"] is not None)
        for r in await pool.fetch("SELECT * FROM users")
    }
    assert rows == {
        "u_admin": ("Admin", "admin", True),
        # Younger, same key: kept, shown as before, no longer found by username.
        "u_fullwidth": (FULLWIDTH_ADMIN, None, False),
        # Younger, same look: signs in as before; the older skeleton keeps out new twins.
        "u_cyrillic": (CYRILLIC_ADMIN, CYRILLIC_ADMIN, False),
        "u_joiner": ("ad\u200dmin", "ad\u200dmin", False),
        "u_strasse": ("Stra\u00dfe", "strasse", True),
        "u_upper": ("STRASSE", None, False),
        "u_plain": ("plain_user", "plain_user", True),
    }
    assert "2 account(s)" in caplog.text
    assert "u_fullwidth" in caplog.text and "u_upper" in caplog.text
    # Any spelling of the key finds the oldest account.
    for spelling in ("ADMIN", FULLWIDTH_ADMIN, "admin"):
        user = await store.users.find_user(pool, Identifier(IdKind.username, canonical(spelling)))
        assert user is not None and user.public_id == "u_admin"
    # The younger look-alike keeps its other way in.
    user = await store.users.find_user(pool, Identifier(IdKind.email, "fullwidth@example.com"))
    assert user is not None and user.public_id == "u_fullwidth"


async def test_after_the_migration_the_indexes_refuse_a_look_alike(pool):
    await db.migrate(pool, identity_app.NAME, identity_app.MIGRATIONS)
    with pytest.raises(asyncpg.UniqueViolationError) as raised:
        await pool.execute(
            "INSERT INTO users (public_id, username, username_key, username_skeleton)"
            " SELECT 'u_new', 'ADMlN', 'admln', username_skeleton FROM users"
            " WHERE public_id = 'u_admin'"
        )
    assert raised.value.constraint_name == "users_username_skeleton_key"


async def test_after_the_migration_a_username_without_its_key_is_refused(pool):
    """As a replica still running the previous version would insert one."""
    await db.migrate(pool, identity_app.NAME, identity_app.MIGRATIONS)
    with pytest.raises(asyncpg.RaiseError, match="needs its key"):
        await pool.execute("INSERT INTO users (public_id, username) VALUES ('u_old', 'admin')")
    await pool.execute("INSERT INTO users (public_id, email) VALUES ('u_mail', 'm@example.com')")
