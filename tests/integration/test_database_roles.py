"""Each service signs in to PostgreSQL as its own role, which can touch only its own schema
(issue 21, point 6).

Before, the three services shared one role: a compromised notifier could read identity's
users and the replies identity records (which hold session tokens, sealed under a key the
notifier also had).
"""

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import asyncpg
import pytest

from contracts.identity import v1
from gatehouse.rpc import RpcClient
from services.identity.app import build as build_identity
from services.notifier.app import build as build_notifier
from services.runtime import db_roles as roles
from services.verification.app import build as build_verification
from tests.identity_support import PASSWORD, own_database
from tests.notifier_support import SmtpSink
from tests.support import call, inbox_channels, random_email, running

# Another user's data, and the replies identity records: what the notifier must not read.
FORBIDDEN_TO_THE_NOTIFIER = ("identity.users", "identity.replies", "verification.codes")


def as_role(url: str, role: str) -> str:
    """`url` signed in as `role` (the test server trusts local connections: no password)."""
    parts = urlsplit(url)
    return parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}").geturl()


async def gatehouse(url: str, *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from services.cli import main; main()",
        *args,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": ":".join(sys.path),
            "GATEHOUSE_DATABASE_URL": url,
            "GATEHOUSE_MODE": "prod",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode()


async def drop_roles(admin_url: str, prefix: str) -> None:
    con = await asyncpg.connect(admin_url)
    try:
        for service in roles.SERVICES:
            await con.execute(f'DROP ROLE IF EXISTS "{roles.role_name(prefix, service)}"')
    finally:
        await con.close()


@pytest.fixture(scope="module")
async def database(infrastructure) -> AsyncIterator[tuple[str, str]]:
    """A database set up as compose does: `gatehouse db-roles`, then `gatehouse migrate` as
    the database's owner; yields (owner URL, role prefix). Roles dropped afterwards."""
    prefix = f"ghtest_{uuid.uuid4().hex[:8]}"
    try:
        async with own_database(infrastructure) as url:
            code, out = await gatehouse(url, "db-roles", "--prefix", prefix)
            assert code == 0, out
            code, out = await gatehouse(url, "migrate")
            assert code == 0, out
            yield url, prefix
    finally:
        await drop_roles(infrastructure[1], prefix)


@pytest.mark.parametrize("table", FORBIDDEN_TO_THE_NOTIFIER)
async def test_the_notifiers_role_cannot_read_another_services_tables(database, table):
    url, prefix = database
    con = await asyncpg.connect(as_role(url, roles.role_name(prefix, "notifier")))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await con.fetch(f"SELECT * FROM {table} LIMIT 1")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await con.execute(f"DELETE FROM {table}")
        # Its own schema is its own.
        assert await con.fetchval("SELECT count(*) FROM notifier.messages") >= 0
    finally:
        await con.close()


async def test_migrations_run_as_the_owner_create_what_each_role_owns(database):
    url, prefix = database
    con = await asyncpg.connect(url)
    try:
        rows = await con.fetch(
            "SELECT n.nspname AS schema, pg_get_userbyid(c.relowner) AS owner"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = ANY($1::text[]) AND c.relkind = 'r'",
            list(roles.SERVICES),
        )
    finally:
        await con.close()
    assert rows
    for row in rows:
        assert row["owner"] == roles.role_name(prefix, row["schema"]), dict(row)


async def test_a_service_signed_in_as_its_role_migrates_its_schema_and_no_other(database):
    url, prefix = database
    notifier_url = as_role(url, roles.role_name(prefix, "notifier"))
    code, out = await gatehouse(notifier_url, "migrate", "--service", "notifier")
    assert code == 0 and "notifier: up to date" in out, out
    code, out = await gatehouse(notifier_url, "migrate", "--service", "identity")
    assert code != 0 and "cannot migrate schema identity: it belongs to" in out, out


async def test_an_existing_installation_is_handed_over_to_the_roles(infrastructure):
    # Installed before roles existed: every schema owned by the one shared role.
    prefix = f"ghtest_{uuid.uuid4().hex[:8]}"
    try:
        async with own_database(infrastructure) as url:
            assert (await gatehouse(url, "migrate"))[0] == 0
            code, out = await gatehouse(url, "db-roles", "--prefix", prefix)
            assert code == 0, out
            identity_role = roles.role_name(prefix, "identity")
            con = await asyncpg.connect(as_role(url, identity_role))
            try:
                await con.execute(
                    "INSERT INTO identity.outbox (event_id, routing_key, body)"
                    " VALUES (gen_random_uuid(), 'x.v1', '{}')"
                )
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await con.fetch("SELECT * FROM notifier.messages")
            finally:
                await con.close()
    finally:
        await drop_roles(infrastructure[1], prefix)


async def test_the_three_services_run_each_as_its_own_role(database, make_settings):
    url, prefix = database
    base = make_settings()
    sink = SmtpSink()
    sink.start()

    def settings_of(service: str, **extra):
        role_url = as_role(url, roles.role_name(prefix, service))
        return make_settings(namespace=base.namespace, database_url=role_url, **extra)

    verification = build_verification(settings_of("verification"))
    identity = build_identity(settings_of("identity", code_resend_cooldown_s=0))
    notifier = build_notifier(settings_of("notifier", smtp_url=sink.url, notify_channels=["email"]))
    amqp = base.amqp_url.get_secret_value()
    try:
        async with (
            running(verification, identity, notifier),
            inbox_channels(base, ("inbox", "email")) as inbox,
            RpcClient(amqp, base.topology, timeout_s=10) as rpc,
        ):
            for service in (verification, identity, notifier):
                current = await service.pool.fetchval("SELECT current_user")
                assert current == roles.role_name(prefix, service.name)
            # A story through all three: a code (verification), an account (identity), and
            # the reset mail identity hands to the notifier through its outbox.
            email = random_email()
            sent = await call(
                rpc,
                "verification.send_code.v1",
                {"send_to": email, "scenario": "register", "channel": "inbox"},
            )
            assert sent["ok"], sent
            code = await inbox.code(email)
            body = {"email": email, "code": code, "password": PASSWORD}
            assert (await call(rpc, v1.register, body))["ok"]
            assert (await call(rpc, v1.send_password_reset_token, {"email": email}))["ok"]
            mail = await sink.mail(email, timeout_s=20)
            assert mail["To"] == email
    finally:
        sink.stop()
