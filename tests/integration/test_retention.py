"""Retention on the real database (issue 11, finding 7): expired rows of every registered table
go when the purges run, live rows stay, and housekeeping runs them while a service runs."""

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.identity import reset_mail, usernames
from services.identity.app import build as build_identity
from services.notifier.app import build as build_notifier
from services.runtime import retention
from services.runtime.service import Service
from services.verification.app import build as build_verification
from tests.support import eventually, running

RANDOM_BYTES = "decode(md5(random()::text), 'hex')"


@dataclass(frozen=True)
class Row:
    """One row inserted for the test, and how to find it again."""

    table: str
    insert: str
    args: tuple[Any, ...]
    where: str
    key: Any
    expired: bool


async def present(pool: asyncpg.Pool, row: Row) -> bool:
    return bool(await pool.fetchval(f"SELECT count(*) FROM {row.table} WHERE {row.where}", row.key))


async def insert(pool: asyncpg.Pool, rows: list[Row]) -> None:
    # In one transaction, so that all rows appear at once: identity's reset mail worker takes
    # queued requests (the live one too) within a quarter of a second of their commit.
    async with pool.acquire() as con, con.transaction():
        for row in rows:
            await con.execute(row.insert, *row.args)


async def purged_exactly_the_expired(service: Service, rows: list[Row]) -> None:
    await insert(service.pool, rows)
    removed = await service.purge_retained()
    assert set(removed) == set(service.retained), "a purge failed"
    assert {r.table for r in rows} == set(service.retained), "a registered table is untested"
    for row in rows:
        assert await present(service.pool, row) is not row.expired, row


def runtime_rows(tag: str) -> list[Row]:
    """The runtime's tables, which every schema has."""
    keep = "rt.test.v1"
    key_sql = (
        "INSERT INTO idempotency (routing_key, caller, key, request_mac, key_id, reply, created_at)"
    )
    rows = [
        Row(
            "idempotency",
            f"{key_sql} VALUES ($1, '', $2, '', '', '{{}}', now() - interval '25 hours')",
            (keep, f"{tag}-old"),
            "key = $1",
            f"{tag}-old",
            True,
        ),
        Row(
            "idempotency",
            f"{key_sql} VALUES ($1, '', $2, '', '', '{{}}', now())",
            (keep, f"{tag}-new"),
            "key = $1",
            f"{tag}-new",
            False,
        ),
    ]
    for created, expired in (("now() - interval '25 hours'", True), ("now()", False)):
        rows.append(
            Row(
                "replies",
                "INSERT INTO replies (routing_key, message_id, request_mac, reply, created_at)"
                f" VALUES ($1, $2, '\\x00', '\\x00', {created})",
                (keep, f"{tag}-{expired}"),
                "message_id = $1",
                f"{tag}-{expired}",
                expired,
            )
        )
    outbox = "INSERT INTO outbox (event_id, routing_key, body, created_at, published_at)"
    for published, created, expired in (
        ("now() - interval '8 days'", "now() - interval '8 days'", True),
        ("now()", "now()", False),
        ("NULL", "now() - interval '8 days'", False),  # not yet sent: kept until it is
    ):
        event_id = uuid.uuid4()
        rows.append(
            Row(
                "outbox",
                f"{outbox} VALUES ($1, 'x.v1', '{{}}', {created}, {published})",
                (event_id,),
                "event_id = $1",
                event_id,
                expired,
            )
        )
    return rows


def expiring(table: str, columns: str, values: str, key_column: str, key: Any, **kw: Any) -> Row:
    """A row whose other values are `values` (SQL, `$1` is `key`)."""
    return Row(
        table,
        f"INSERT INTO {table} ({columns}) VALUES ({values})",
        (key,),
        f"{key_column} = $1",
        key,
        **kw,
    )


async def new_user(pool: asyncpg.Pool) -> int:
    name = usernames.parse(f"u_{uuid.uuid4().hex[:12]}", 1, 255)
    return await pool.fetchval(
        "INSERT INTO users (public_id, username, username_key, username_skeleton)"
        " VALUES ($1, $1, $2, $3) RETURNING id",
        name.display,
        name.key,
        name.skeleton,
    )


async def test_identity_purges_every_expired_row_and_keeps_the_live_ones(
    make_settings, monkeypatch
):
    # The reset mail worker takes every queued request within a poll; idle here, it leaves the
    # live `reset_queue` row for the purge to keep (its own tests are in test_reset_requests).
    async def idle(identity: object) -> int:
        return 0

    monkeypatch.setattr(reset_mail, "mail_queued", idle)
    settings = make_settings()
    service = build_identity(settings)
    async with running(service):
        pool = service.pool
        tag = uuid.uuid4().hex[:10]
        old_user, live_user = await new_user(pool), await new_user(pool)
        confirmed_user = await new_user(pool)
        past, future = "now() - interval '1 minute'", "now() + interval '1 hour'"
        rows = runtime_rows(tag)
        session = "public_id, user_id, token_hash, method, expires_at, absolute_expires_at"
        for n, (sliding, absolute, expired) in enumerate(
            [(past, future, True), (future, past, True), (future, future, False)]
        ):
            rows.append(
                expiring(
                    "sessions",
                    session,
                    f"$1, {old_user}, {RANDOM_BYTES}, 'password', {sliding}, {absolute}",
                    "public_id",
                    f"s_{tag}_{n}",
                    expired=expired,
                )
            )
        for when, expired in ((past, True), (future, False)):
            token = uuid.uuid4().bytes
            rows.append(
                expiring(
                    "remember_tokens",
                    "token_hash, user_id, session_public_id, expires_at, chain_id,"
                    " chain_expires_at, proved_at",
                    f"$1, {old_user}, 's_{tag}', {when}, 'c_{tag}', {when}, now()",
                    "token_hash",
                    token,
                    expired=expired,
                )
            )
            token = uuid.uuid4().bytes
            rows.append(
                expiring(
                    "mfa_challenges",
                    "token_hash, user_id, method, remember, expires_at",
                    f"$1, {old_user}, 'password', false, {when}",
                    "token_hash",
                    token,
                    expired=expired,
                )
            )
            rows.append(
                expiring(
                    "hook_cache",
                    "trigger, hook, key, value, expires_at",
                    f"'post_login', 'h_{tag}', $1, 'v', {when}",
                    "key",
                    f"{tag}-{expired}",
                    expired=expired,
                )
            )
        for user, when, expired in ((old_user, past, True), (live_user, future, False)):
            rows.append(
                expiring(
                    "reset_tokens",
                    "user_id, token_hash, expires_at",
                    f"$1, {RANDOM_BYTES}, {when}",
                    "user_id",
                    user,
                    expired=expired,
                )
            )
        for user, created, expired in (
            (old_user, "now() - interval '2 days'", True),
            (live_user, "now()", False),
        ):
            rows.append(
                expiring(
                    "contact_verifications",
                    "user_id, kind, value, created_at",
                    f"$1, 'email', 'x@example.com', {created}",
                    "user_id",
                    user,
                    expired=expired,
                )
            )
        # An authenticator app left pending goes after a day; a confirmed one stays, however old.
        for user, created, confirmed, expired in (
            (old_user, "now() - interval '2 days'", "NULL", True),
            (live_user, "now()", "NULL", False),
            (confirmed_user, "now() - interval '2 days'", "now()", False),
        ):
            rows.append(
                expiring(
                    "totp_authenticators",
                    "user_id, secret_sealed, created_at, confirmed_at",
                    f"$1, '\\x00', {created}, {confirmed}",
                    "user_id",
                    user,
                    expired=expired,
                )
            )
        for created, expired in (("now() - interval '2 days'", True), ("now()", False)):
            rows.append(
                expiring(
                    "reset_queue",
                    "kind, value, created_at",
                    f"'email', $1, {created}",
                    "value",
                    f"{tag}-{expired}@example.com",
                    expired=expired,
                )
            )
        for start, expired in (("now() - interval '2 hours'", True), ("now()", False)):
            rows.append(
                expiring(
                    "reset_requests",
                    "key, requests, window_start",
                    f"$1, 3, {start}",
                    "key",
                    f"test:{tag}:{expired}",
                    expired=expired,
                )
            )
        window = settings.login_failure_window_s
        for start, expired in ((f"now() - interval '{2 * window} s'", True), ("now()", False)):
            rows.append(
                expiring(
                    "login_failures",
                    "account_key, failures, window_start",
                    f"$1, 3, {start}",
                    "account_key",
                    f"test:{tag}:{expired}",
                    expired=expired,
                )
            )
        for when, expired in ((past, True), (future, False)):
            rows.append(
                expiring(
                    "login_clients",
                    "user_id, client, expires_at",
                    f"{old_user}, $1, {when}",
                    "client",
                    uuid.uuid4().bytes,
                    expired=expired,
                )
            )
        for announced, expired in (("now() - interval '2 hours'", True), ("now()", False)):
            rows.append(
                expiring(
                    "hooks",
                    "trigger, name, priority, announced_at",
                    f"'post_login', $1, 100, {announced}",
                    "name",
                    f"h_{tag}_{expired}",
                    expired=expired,
                )
            )
        for retires, expired in ((past, True), (future, False), ("NULL", False)):
            rows.append(
                expiring(
                    "signing_keys",
                    "kid, alg, public_jwk, private_sealed, activates_at, retires_at",
                    f"$1, 'EdDSA', '{{}}', '\\x00', now() - interval '1 day', {retires}",
                    "kid",
                    f"test-{tag}-{retires}",
                    expired=expired,
                )
            )
        try:
            await purged_exactly_the_expired(service, rows)
        finally:
            # Not a key anything can open: the run's other identities share this schema.
            await pool.execute("DELETE FROM signing_keys WHERE kid LIKE $1", f"test-{tag}-%")


async def test_verification_purges_old_codes_and_silent_channels(make_settings):
    service = build_verification(make_settings())
    async with running(service):
        tag = uuid.uuid4().hex[:10]
        rows = runtime_rows(tag)
        for created, expired in (("now() - interval '2 days'", True), ("now()", False)):
            rows.append(
                expiring(
                    "codes",
                    "send_to, scenario, digest, created_at, expires_at, max_attempts",
                    f"$1, 'login', '\\x00'::bytea, {created}, {created} + interval '10 min', 5",
                    "send_to",
                    f"{tag}-{expired}@example.com",
                    expired=expired,
                )
            )
        for announced, expired in (("now() - interval '2 hours'", True), ("now()", False)):
            rows.append(
                expiring(
                    "channels",
                    "name, kind, announced_at",
                    f"$1, 'sms', {announced}",
                    "name",
                    f"c-{tag}-{expired}".lower(),
                    expired=expired,
                )
            )
        await purged_exactly_the_expired(service, rows)


async def test_the_notifier_purges_week_old_messages_finished_or_abandoned(make_settings):
    service = build_notifier(make_settings(notify_channels=[]))
    async with running(service):
        tag = uuid.uuid4().hex[:10]
        rows = runtime_rows(tag)
        columns = (
            "message_id, channel, template, recipient_key, recipient_masked, status, updated_at"
        )
        for status, updated, expired in (
            ("sent", "now() - interval '8 days'", True),
            ("sending", "now() - interval '8 days'", True),
            ("sent", "now()", False),
            ("retrying", "now()", False),
        ):
            rows.append(
                expiring(
                    "messages",
                    columns,
                    f"$1, 'email', 'login', '\\x00'::bytea, 'a***@example.com', '{status}',"
                    f" {updated}",
                    "message_id",
                    f"{tag}-{status}-{expired}",
                    expired=expired,
                )
            )
        for window, expired in (("now() - interval '3 hours'", True), ("now()", False)):
            rows.append(
                expiring(
                    "send_budgets",
                    "namespace, scope, channel, window_start, used",
                    f"'test', $1, 'email', {window}, 1",
                    "scope",
                    f"caller:{tag}-{expired}",
                    expired=expired,
                )
            )
        await purged_exactly_the_expired(service, rows)


async def test_identity_housekeeping_purges_expired_sessions_while_it_runs(
    make_settings, monkeypatch
):
    monkeypatch.setattr(retention, "HOUSEKEEPING_S", 0.1)
    service = build_identity(make_settings())
    async with running(service):
        user = await new_user(service.pool)
        public_id = f"s_{uuid.uuid4().hex[:12]}"
        await service.pool.execute(
            "INSERT INTO sessions (public_id, user_id, token_hash, method, expires_at,"
            " absolute_expires_at) VALUES ($1, $2, decode(md5(random()::text), 'hex'), 'password',"
            " now() - interval '2 days', now() + interval '1 day')",
            public_id,
            user,
        )

        async def gone() -> bool:
            sql = "SELECT count(*) FROM sessions WHERE public_id = $1"
            return await service.pool.fetchval(sql, public_id) == 0

        await eventually(gone, timeout_s=5)
