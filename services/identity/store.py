"""SQL for the identity schema. Uniqueness, single use and counters are the database's job."""

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from contracts.envelope import CloudEvent
from contracts.errors import ErrorCode
from services.identity.domain import Identifier, IdentityError, IdKind
from services.runtime import db, outbox

Conn = asyncpg.Connection | asyncpg.Pool

USER = (
    "u.id, u.public_id, u.username, u.email, u.phone, u.email_verified, u.phone_verified,"
    " u.properties::text AS properties, u.created_at, u.updated_at,"
    " u.app_metadata::text AS app_metadata, u.user_metadata::text AS user_metadata,"
    " u.mfa_enabled"
)

# Index name (see migrations) → the reply a violation of it becomes.
_TAKEN = {
    "users_public_id_key": ErrorCode.user_id_taken,
    "users_username_key": ErrorCode.username_taken,
    "users_email_key": ErrorCode.email_taken,
    "users_phone_key": ErrorCode.phone_taken,
}


@contextmanager
def unique_violations(*, contact_taken: bool = False) -> Iterator[None]:
    """Turn a unique-index violation into its reply, by class and index name."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        code = _TAKEN.get(exc.constraint_name or "")
        if code is None:
            raise
        if contact_taken and code is not ErrorCode.username_taken:
            code = ErrorCode.contact_taken
        field = code.value.removesuffix("_taken")
        raise IdentityError(f"this {field} is already in use", code=code) from None


def user_key(user_id: int) -> str:
    """Throttling key of a known account."""
    return f"user:{user_id}"


def _where(ident: Identifier, param: str = "$1") -> str:
    if ident.kind is IdKind.username:
        return f"lower(u.username) = lower({param})"
    return f"u.{ident.kind.value} = {param}"


def properties_of(row: asyncpg.Record) -> dict[str, Any]:
    return json.loads(row["properties"])


# --- users ---------------------------------------------------------------------------------


async def insert_user(
    con: asyncpg.Connection,
    public_id: str,
    username: str | None,
    email: str | None,
    phone: str | None,
    email_verified: bool,
    phone_verified: bool,
    properties: dict[str, Any],
) -> asyncpg.Record:
    return await con.fetchrow(
        "INSERT INTO users AS u (public_id, username, email, phone, email_verified,"
        " phone_verified, properties) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)"
        f" RETURNING {USER}",
        public_id,
        username,
        email,
        phone,
        email_verified,
        phone_verified,
        json.dumps(properties),
    )


async def taken(
    con: Conn, username: str | None, email: str | None, phone: str | None
) -> ErrorCode | None:
    row = await con.fetchrow(
        "SELECT bool_or(lower(username) = lower($1)) AS username,"
        " bool_or(email = $2) AS email, bool_or(phone = $3) AS phone FROM users"
        " WHERE lower(username) = lower($1) OR email = $2 OR phone = $3",
        username,
        email,
        phone,
    )
    for kind, code in (
        ("username", ErrorCode.username_taken),
        ("email", ErrorCode.email_taken),
        ("phone", ErrorCode.phone_taken),
    ):
        if row[kind]:
            return code
    return None


async def find_user(con: Conn, ident: Identifier) -> asyncpg.Record | None:
    return await con.fetchrow(f"SELECT {USER} FROM users u WHERE {_where(ident)}", ident.value)


async def lock_user(con: asyncpg.Connection, user_id: int) -> asyncpg.Record | None:
    """The user row with its password hash, locked until the end of the transaction `con` is
    in: only meaningful inside one."""
    assert con.is_in_transaction(), "a row lock outside a transaction is released at once"
    return await con.fetchrow(
        f"SELECT {USER}, c.password_hash FROM users u"
        " LEFT JOIN credentials c ON c.user_id = u.id WHERE u.id = $1 FOR UPDATE OF u",
        user_id,
    )


async def password_hash(con: Conn, user_id: int) -> str | None:
    return await con.fetchval("SELECT password_hash FROM credentials WHERE user_id = $1", user_id)


async def set_contact(
    con: asyncpg.Connection, user_id: int, kind: IdKind, value: str | None
) -> asyncpg.Record:
    column = kind.value  # `email` or `phone`: never caller text
    return await con.fetchrow(
        f"UPDATE users u SET {column} = $2::text, {column}_verified = $2::text IS NOT NULL,"
        f" updated_at = now() WHERE u.id = $1 RETURNING {USER}",
        user_id,
        value,
    )


async def save_properties(
    con: asyncpg.Connection, user_id: int, properties: dict[str, Any]
) -> asyncpg.Record:
    return await con.fetchrow(
        "UPDATE users u SET properties = $2::jsonb, updated_at = now()"
        f" WHERE u.id = $1 RETURNING {USER}",
        user_id,
        json.dumps(properties),
    )


async def delete_user(
    con: asyncpg.Connection, user_id: int
) -> tuple[asyncpg.Record | None, list[str]]:
    """Everything of the user goes: credentials, sessions and tokens by cascade. Returns the
    user and the public ids of the sessions that went with it (for `user.deregistered`)."""
    # Locked first: a sign-in racing this cannot add a session that the cascade would remove
    # without it being listed.
    await con.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user_id)
    sessions = await revoke_sessions(con, user_id)
    await con.execute("DELETE FROM login_failures WHERE account_key = $1", user_key(user_id))
    user = await con.fetchrow(f"DELETE FROM users u WHERE u.id = $1 RETURNING {USER}", user_id)
    return user, sessions


async def user_data_counts(con: Conn, public_id: str) -> dict[str, int]:
    """How many rows of each table belong to the user (tests and audits)."""
    row = await con.fetchrow(
        "WITH u AS (SELECT id FROM users WHERE public_id = $1) SELECT"
        " (SELECT count(*) FROM u) AS users,"
        " (SELECT count(*) FROM credentials WHERE user_id IN (SELECT id FROM u)) AS credentials,"
        " (SELECT count(*) FROM sessions WHERE user_id IN (SELECT id FROM u)) AS sessions,"
        " (SELECT count(*) FROM remember_tokens WHERE user_id IN (SELECT id FROM u))"
        " AS remember_tokens,"
        " (SELECT count(*) FROM reset_tokens WHERE user_id IN (SELECT id FROM u))"
        " AS reset_tokens",
        public_id,
    )
    return dict(row)


# --- credentials and throttling ------------------------------------------------------------


async def set_password(con: asyncpg.Connection, user_id: int, password_hash: str) -> None:
    """Set the password; outstanding reset tokens were for the old one and are void."""
    await con.execute(
        "INSERT INTO credentials (user_id, password_hash) VALUES ($1, $2)"
        " ON CONFLICT (user_id) DO UPDATE SET password_hash = $2, updated_at = now()",
        user_id,
        password_hash,
    )
    await con.execute("DELETE FROM reset_tokens WHERE user_id = $1", user_id)


async def replace_password(
    con: asyncpg.Connection, user_id: int, verified_hash: str, new_hash: str
) -> bool:
    """Compare-and-set on the hash the old password was verified against: of concurrent
    changes made with the same old password, one finds it and the others do not."""
    changed = await con.fetchval(
        "UPDATE credentials SET password_hash = $3, updated_at = now()"
        " WHERE user_id = $1 AND password_hash = $2 RETURNING true",
        user_id,
        verified_hash,
        new_hash,
    )
    if changed:
        await con.execute("DELETE FROM reset_tokens WHERE user_id = $1", user_id)
    return bool(changed)


async def rehash(con: Conn, user_id: int, old_hash: str, new_hash: str) -> None:
    """Upgrade a hash unless the password changed meanwhile."""
    await con.execute(
        "UPDATE credentials SET password_hash = $3 WHERE user_id = $1 AND password_hash = $2",
        user_id,
        old_hash,
        new_hash,
    )


# One round trip per sign-in attempt: find the account and its hash, and count the attempt
# against the identifier given and, when it names an account, against the account too, before
# any verify, so concurrent guesses cannot all slip in under the limit. Two buckets, because
# one shared by all of an account's identifiers would tell an attacker which ones belong
# together (failures by username would throttle that account's email at once).
_ATTEMPT = """
WITH u AS (SELECT {user}, c.password_hash FROM users u
           LEFT JOIN credentials c ON c.user_id = u.id WHERE {where}),
a AS (
    INSERT INTO login_failures AS f (account_key, failures, window_start)
    SELECT key, 1, now() FROM (SELECT $2::text AS key UNION ALL SELECT 'user:' || id FROM u) k
    ON CONFLICT (account_key) DO UPDATE SET
        failures = CASE WHEN f.window_start <= now() - $3::interval THEN 1
                        ELSE f.failures + 1 END,
        window_start = CASE WHEN f.window_start <= now() - $3::interval THEN now()
                            ELSE f.window_start END
    RETURNING account_key, failures, window_start
)
SELECT u.*,
       i.failures, i.window_start, acc.account_key,
       acc.failures AS account_failures, acc.window_start AS account_window_start,
       now() AS now
FROM (SELECT * FROM a WHERE account_key = $2) i
LEFT JOIN u ON true
LEFT JOIN (SELECT * FROM a WHERE account_key <> $2) acc ON true
"""


async def attempt(con: Conn, ident: Identifier, window: timedelta) -> asyncpg.Record:
    sql = _ATTEMPT.format(user=USER, where=_where(ident))
    return await con.fetchrow(sql, ident.value, ident.throttle_key, window)


# --- sessions ------------------------------------------------------------------------------


async def create_session(
    con: Conn,
    user_id: int,
    public_id: str,
    token_hash: bytes,
    method: str,
    ttl: timedelta,
    absolute_ttl: timedelta,
    event: CloudEvent[Any],
    factors: list[str],
    clear_failures_of: list[str],
) -> datetime:
    """Store a session with its sign-in event; returns its first expiry. `clear_failures_of`
    also resets those throttling buckets (the identifier and account that just succeeded)."""
    return await con.fetchval(
        "WITH cleared AS (DELETE FROM login_failures WHERE account_key = ANY($7::text[])),"
        f" {outbox.cte(9)},"
        " session AS (INSERT INTO sessions (public_id, user_id, token_hash, method, expires_at,"
        " absolute_expires_at, factors) VALUES ($1, $2, $3, $4,"
        " LEAST(now() + $5::interval, now() + $6::interval), now() + $6::interval, $8)"
        " RETURNING expires_at)"
        " SELECT expires_at FROM session",
        public_id,
        user_id,
        token_hash,
        method,
        ttl,
        absolute_ttl,
        clear_failures_of,
        factors,
        *outbox.row(event),
    )


async def create_remember_token(
    con: Conn,
    user_id: int,
    token_hash: bytes,
    session_id: str,
    ttl: timedelta,
    factors: list[str],
) -> None:
    await con.execute(
        "INSERT INTO remember_tokens (token_hash, user_id, session_public_id, expires_at,"
        " factors) VALUES ($1, $2, $3, now() + $4::interval, $5)",
        token_hash,
        user_id,
        session_id,
        ttl,
        factors,
    )


# Sliding expiry without a write per call: the expiry moves only once it has fallen a minute
# behind where it would slide to, so a busy session costs one write a minute, not per request.
_SESSION_USER = """
WITH s AS (SELECT id, user_id, public_id, expires_at, absolute_expires_at, factors
           FROM sessions WHERE token_hash = $1 AND expires_at > now()),
bumped AS (
    UPDATE sessions SET expires_at = LEAST(now() + $2::interval, s.absolute_expires_at)
    FROM s WHERE sessions.id = s.id
      AND s.expires_at < LEAST(now() + $2::interval, s.absolute_expires_at) - interval '60 s'
    RETURNING sessions.expires_at
)
SELECT {user}, s.public_id AS session_id, s.factors,
       coalesce((SELECT expires_at FROM bumped), s.expires_at) AS session_expires_at
FROM s JOIN users u ON u.id = s.user_id
"""


async def session_user(con: Conn, token_hash: bytes, ttl: timedelta) -> asyncpg.Record | None:
    return await con.fetchrow(_SESSION_USER.format(user=USER), token_hash, ttl)


async def session_alive(con: Conn, token_hash: bytes) -> bool:
    return bool(
        await con.fetchval(
            "SELECT 1 FROM sessions WHERE token_hash = $1 AND expires_at > now()", token_hash
        )
    )


async def delete_session(con: asyncpg.Connection, token_hash: bytes) -> asyncpg.Record | None:
    """Revoke one live session and the remember tokens issued with it."""
    row = await con.fetchrow(
        "DELETE FROM sessions s USING users u WHERE s.token_hash = $1 AND s.expires_at > now()"
        " AND u.id = s.user_id RETURNING s.public_id AS session_id, u.public_id AS user_public_id",
        token_hash,
    )
    if row is not None:
        await con.execute(
            "DELETE FROM remember_tokens WHERE session_public_id = $1", row["session_id"]
        )
    return row


async def revoke_sessions(
    con: asyncpg.Connection, user_id: int, keep_session: str | None = None
) -> list[str]:
    """Every session and remember token of the user but `keep_session` and its own. Returns
    the public ids of the sessions removed (the `sid`s of their access tokens)."""
    keep = keep_session or ""
    revoked = await con.fetch(
        "DELETE FROM sessions WHERE user_id = $1 AND public_id <> $2 RETURNING public_id",
        user_id,
        keep,
    )
    await con.execute(
        "DELETE FROM remember_tokens WHERE user_id = $1 AND session_public_id <> $2",
        user_id,
        keep,
    )
    return sorted(row["public_id"] for row in revoked)


async def remembered_user(con: Conn, token_hash: bytes) -> asyncpg.Record | None:
    """The user of a live remember token, with the factors of the sign-in that issued it."""
    return await con.fetchrow(
        f"SELECT {USER}, r.factors FROM remember_tokens r JOIN users u ON u.id = r.user_id"
        " WHERE r.token_hash = $1 AND r.expires_at > now()",
        token_hash,
    )


async def consume_remember_token(con: asyncpg.Connection, token_hash: bytes) -> bool:
    """Single use: of two concurrent auto-logins with one token, one deletes it."""
    deleted = await con.fetchval(
        "DELETE FROM remember_tokens WHERE token_hash = $1 AND expires_at > now() RETURNING 1",
        token_hash,
    )
    return deleted is not None


# --- password reset tokens ----------------------------------------------------------------

# Count a reset request against the identifier given (whether or not it names an account) and
# against the account it names, in one statement that known and unknown identifiers share.
_RESET_REQUEST = """
WITH u AS (SELECT {user} FROM users u WHERE {where}),
r AS (
    INSERT INTO reset_requests AS q (key, requests, window_start)
    SELECT key, 1, now() FROM (SELECT $2::text AS key UNION ALL SELECT 'user:' || id FROM u) k
    ON CONFLICT (key) DO UPDATE SET
        requests = CASE WHEN q.window_start <= now() - $3::interval THEN 1
                        ELSE q.requests + 1 END,
        window_start = CASE WHEN q.window_start <= now() - $3::interval THEN now()
                            ELSE q.window_start END
    RETURNING key, requests, window_start
)
SELECT u.*, i.requests, i.window_start, acc.requests AS account_requests, now() AS now
FROM (SELECT * FROM r WHERE key = $2) i
LEFT JOIN u ON true
LEFT JOIN (SELECT * FROM r WHERE key <> $2) acc ON true
"""


async def count_reset_request(
    con: asyncpg.Connection, ident: Identifier, window: timedelta
) -> asyncpg.Record:
    sql = _RESET_REQUEST.format(user=USER, where=_where(ident))
    return await con.fetchrow(sql, ident.value, ident.throttle_key, window)


async def store_reset_token(
    con: asyncpg.Connection,
    user_id: int | None,
    token_hash: bytes,
    ttl: timedelta,
    mail: outbox.Row | None,
) -> None:
    """Store a reset token and its mail, or, for no user, do the same statement's work with
    nothing to write: the reply to a reset request must not tell whether the user exists."""
    await con.execute(
        "WITH token AS (INSERT INTO reset_tokens (token_hash, user_id, expires_at)"
        " SELECT $1, $2, now() + $3::interval WHERE $2::bigint IS NOT NULL),"
        f" {outbox.cte(4, when='$4::uuid IS NOT NULL')}"
        " SELECT 1",
        token_hash,
        user_id,
        ttl,
        *(mail or (None, None, None, None)),
    )


async def consume_reset_token(con: asyncpg.Connection, user_id: int, token_hash: bytes) -> bool:
    deleted = await con.fetchval(
        "DELETE FROM reset_tokens WHERE user_id = $1 AND token_hash = $2"
        " AND expires_at > now() RETURNING 1",
        user_id,
        token_hash,
    )
    return deleted is not None


async def reset_token_alive(con: Conn, user_id: int, token_hash: bytes) -> bool:
    alive = await con.fetchval(
        "SELECT 1 FROM reset_tokens WHERE user_id = $1 AND token_hash = $2 AND expires_at > now()",
        user_id,
        token_hash,
    )
    return alive is not None


# --- metadata (hooks) ----------------------------------------------------------------------


async def apply_metadata(
    con: asyncpg.Connection,
    user_id: int,
    app_set: dict[str, Any],
    app_deleted: list[str],
    user_set: dict[str, Any],
    user_deleted: list[str],
) -> asyncpg.Record:
    """Merge in one statement: a concurrent flow's other keys survive."""
    return await con.fetchrow(
        "UPDATE users u SET app_metadata = (u.app_metadata - $3::text[]) || $2::jsonb,"
        " user_metadata = (u.user_metadata - $5::text[]) || $4::jsonb, updated_at = now()"
        f" WHERE u.id = $1 RETURNING {USER}",
        user_id,
        json.dumps(app_set),
        app_deleted,
        json.dumps(user_set),
        user_deleted,
    )


# --- hook registry and cache ---------------------------------------------------------------


async def register_hook(con: Conn, trigger: str, name: str, priority: int) -> bool:
    """Record an announcement; True when the hook is new or its priority changed."""
    return await con.fetchval(
        "WITH old AS (SELECT priority FROM hooks WHERE trigger = $1 AND name = $2)"
        " INSERT INTO hooks (trigger, name, priority) VALUES ($1, $2, $3)"
        " ON CONFLICT (trigger, name) DO UPDATE SET priority = $3, announced_at = now()"
        " RETURNING (SELECT priority FROM old) IS DISTINCT FROM $3",
        trigger,
        name,
        priority,
    )


async def hooks_of(con: Conn, trigger: str) -> list[asyncpg.Record]:
    return await con.fetch(
        "SELECT name, priority FROM hooks WHERE trigger = $1 ORDER BY priority, name", trigger
    )


async def forget_silent_hooks(con: Conn, silent_for: timedelta) -> int:
    """Remove the registrations no worker announced for `silent_for`: live workers announce
    theirs every `hook_announce_interval_s`."""
    return await db.delete(
        con, "DELETE FROM hooks WHERE announced_at < now() - $1::interval", silent_for
    )


async def cache_snapshot(con: Conn, hook: str) -> list[asyncpg.Record]:
    return await con.fetch(
        "SELECT key, value, expires_at FROM hook_cache WHERE hook = $1 AND expires_at > now()",
        hook,
    )


# Keep the longest-lived entries within the caps; expired ones go too.
_EVICT = """
DELETE FROM hook_cache WHERE hook = $1 AND (expires_at <= now() OR key IN (
    SELECT key FROM (
        SELECT key, count(*) OVER w AS n,
               sum(octet_length(key) + octet_length(value)) OVER w AS bytes
        FROM hook_cache WHERE hook = $1 AND expires_at > now()
        WINDOW w AS (ORDER BY expires_at DESC, key)
    ) ranked WHERE n > $2 OR bytes > $3))
"""


async def update_cache(
    con: asyncpg.Connection,
    hook: str,
    sets: list[tuple[str, str, datetime | None, int]],
    deletes: list[str],
    max_keys: int,
    max_bytes: int,
) -> None:
    """`sets`: (key, value, expires_at or None, ttl_ms used when expires_at is None)."""
    async with con.transaction():
        if deletes:
            await con.execute(
                "DELETE FROM hook_cache WHERE hook = $1 AND key = any($2::text[])", hook, deletes
            )
        for key, value, expires_at, ttl_ms in sets:
            await con.execute(
                "INSERT INTO hook_cache (hook, key, value, expires_at) VALUES ($1, $2, $3,"
                " coalesce($4::timestamptz, now() + $5::bigint * interval '1 millisecond'))"
                " ON CONFLICT (hook, key) DO UPDATE SET value = excluded.value,"
                " expires_at = excluded.expires_at",
                hook,
                key,
                value,
                expires_at,
                ttl_ms,
            )
        await con.execute(_EVICT, hook, max_keys, max_bytes)


# --- two-factor ----------------------------------------------------------------------------


async def create_mfa_challenge(
    con: Conn,
    token_hash: bytes,
    user_id: int,
    method: str,
    remember: bool,
    client: dict[str, Any],
    ttl: timedelta,
    factors: list[str],
) -> None:
    await con.execute(
        "INSERT INTO mfa_challenges (token_hash, user_id, method, remember, client, expires_at,"
        " factors) VALUES ($1, $2, $3, $4, $5::jsonb, now() + $6::interval, $7)",
        token_hash,
        user_id,
        method,
        remember,
        json.dumps(client),
        ttl,
        factors,
    )


async def mfa_challenge(con: Conn, token_hash: bytes) -> asyncpg.Record | None:
    return await con.fetchrow(
        f"SELECT {USER}, m.method, m.remember, m.client::text AS client, m.attempts, m.contact,"
        " m.factors"
        " FROM mfa_challenges m JOIN users u ON u.id = m.user_id"
        " WHERE m.token_hash = $1 AND m.expires_at > now()",
        token_hash,
    )


async def set_mfa_contact(con: Conn, token_hash: bytes, kind: str) -> None:
    await con.execute(
        "UPDATE mfa_challenges SET contact = $2 WHERE token_hash = $1", token_hash, kind
    )


async def clear_failures(con: Conn, keys: list[str]) -> None:
    await con.execute("DELETE FROM login_failures WHERE account_key = ANY($1::text[])", keys)


async def count_mfa_attempt(con: Conn, token_hash: bytes) -> int | None:
    """Count an attempt before the code is checked, so concurrent guesses cannot all slip in."""
    return await con.fetchval(
        "UPDATE mfa_challenges SET attempts = attempts + 1"
        " WHERE token_hash = $1 AND expires_at > now() RETURNING attempts",
        token_hash,
    )


async def consume_mfa_challenge(con: Conn, token_hash: bytes) -> bool:
    """Single use: of two concurrent verifications, one deletes the row."""
    return (
        await con.fetchval(
            "DELETE FROM mfa_challenges WHERE token_hash = $1 AND expires_at > now() RETURNING 1",
            token_hash,
        )
        is not None
    )


async def set_mfa(con: Conn, user_id: int, enabled: bool) -> asyncpg.Record:
    return await con.fetchrow(
        f"UPDATE users u SET mfa_enabled = $2, updated_at = now() WHERE u.id = $1 RETURNING {USER}",
        user_id,
        enabled,
    )


# --- contact verification ------------------------------------------------------------------


async def start_contact_verification(con: Conn, user_id: int, kind: str, value: str) -> None:
    """One pending contact per user: a new one replaces the old."""
    await con.execute(
        "INSERT INTO contact_verifications (user_id, kind, value) VALUES ($1, $2, $3)"
        " ON CONFLICT (user_id) DO UPDATE SET kind = $2, value = $3, created_at = now()",
        user_id,
        kind,
        value,
    )


async def pending_contact(con: Conn, user_id: int) -> asyncpg.Record | None:
    return await con.fetchrow(
        "SELECT kind, value FROM contact_verifications WHERE user_id = $1", user_id
    )


async def finish_contact_verification(
    con: asyncpg.Connection, user_id: int, kind: str, value: str
) -> bool:
    return (
        await con.fetchval(
            "DELETE FROM contact_verifications WHERE user_id = $1 AND kind = $2 AND value = $3"
            " RETURNING 1",
            user_id,
            kind,
            value,
        )
        is not None
    )


# --- access token signing keys (services/identity/signing_keys.py) -------------------------

# One advisory lock for every change to the key set: replicas starting together make one
# first key, and a rotation never races another.
_SIGNING_KEYS_LOCK = int.from_bytes(
    hashlib.sha256(b"gatehouse:identity:signing_keys").digest()[:8], "big", signed=True
)
SIGNING_KEY = (
    "kid, alg, public_jwk::text AS public_jwk, private_sealed, created_at, activates_at, retires_at"
)


async def lock_signing_keys(con: asyncpg.Connection) -> None:
    """Held until the end of the transaction `con` is in."""
    assert con.is_in_transaction(), "an advisory xact lock outside a transaction is useless"
    await con.execute("SELECT pg_advisory_xact_lock($1)", _SIGNING_KEYS_LOCK)


async def signing_keys(con: Conn, *, retired: bool = False) -> list[asyncpg.Record]:
    """Keys in activation order: those still verifying (and those yet to sign), or every
    stored one with `retired`."""
    where = "" if retired else " WHERE retires_at IS NULL OR retires_at > now()"
    return await con.fetch(
        f"SELECT {SIGNING_KEY}, now() AS now FROM signing_keys{where}"
        " ORDER BY activates_at, created_at"
    )


async def insert_signing_key(
    con: Conn,
    kid: str,
    alg: str,
    public_jwk: dict[str, Any],
    private_sealed: bytes,
    activates_in: timedelta,
) -> asyncpg.Record:
    return await con.fetchrow(
        "INSERT INTO signing_keys (kid, alg, public_jwk, private_sealed, activates_at)"
        f" VALUES ($1, $2, $3::jsonb, $4, now() + $5::interval) RETURNING {SIGNING_KEY}",
        kid,
        alg,
        json.dumps(public_jwk),
        private_sealed,
        activates_in,
    )


async def schedule_retirements(con: Conn, verify_for: timedelta) -> int:
    """A key whose successor signs has signed its last token: it verifies for `verify_for`
    (the token lifetime and a leeway) after the successor's activation, then retires."""
    tag = await con.execute(
        "UPDATE signing_keys k SET retires_at = (SELECT min(n.activates_at) FROM signing_keys n"
        "  WHERE n.activates_at > k.activates_at AND n.activates_at <= now()) + $1::interval"
        " WHERE k.retires_at IS NULL AND EXISTS (SELECT 1 FROM signing_keys n"
        "  WHERE n.activates_at > k.activates_at AND n.activates_at <= now())",
        verify_for,
    )
    return int(tag.split()[-1])


# --- retention: each purge is registered with Service.retain in app.py -----------------------


async def purge_sessions(pool: asyncpg.Pool) -> int:
    """Past the sliding or the absolute expiry, no token finds the row any more."""
    return await db.delete(
        pool, "DELETE FROM sessions WHERE expires_at < now() OR absolute_expires_at < now()"
    )


async def purge_remember_tokens(pool: asyncpg.Pool) -> int:
    return await db.delete(pool, "DELETE FROM remember_tokens WHERE expires_at < now()")


async def purge_reset_tokens(pool: asyncpg.Pool) -> int:
    return await db.delete(pool, "DELETE FROM reset_tokens WHERE expires_at < now()")


async def purge_mfa_challenges(pool: asyncpg.Pool) -> int:
    return await db.delete(pool, "DELETE FROM mfa_challenges WHERE expires_at < now()")


async def purge_contact_verifications(pool: asyncpg.Pool, older_than: timedelta) -> int:
    """A pending contact is confirmed with a code; once no code sent for it can be alive,
    the row confirms nothing."""
    return await db.delete(
        pool,
        "DELETE FROM contact_verifications WHERE created_at < now() - $1::interval",
        older_than,
    )


async def purge_login_failures(pool: asyncpg.Pool, window: timedelta) -> int:
    """A window that has passed counts nothing: the next failure starts a new one."""
    return await db.delete(
        pool, "DELETE FROM login_failures WHERE window_start < now() - $1::interval", window
    )


async def purge_reset_requests(pool: asyncpg.Pool, window: timedelta) -> int:
    """A window that has passed counts nothing: the next request starts a new one."""
    return await db.delete(
        pool, "DELETE FROM reset_requests WHERE window_start < now() - $1::interval", window
    )


async def purge_hook_cache(pool: asyncpg.Pool) -> int:
    return await db.delete(pool, "DELETE FROM hook_cache WHERE expires_at < now()")


async def purge_signing_keys(pool: asyncpg.Pool) -> int:
    """A retired key verifies nothing: every token it signed has expired."""
    return await db.delete(pool, "DELETE FROM signing_keys WHERE retires_at < now()")
