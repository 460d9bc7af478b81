"""Passwords and sign-in throttling: set, compare-and-set, re-hash, count an attempt."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.identity.domain import Identifier
from services.identity.store.rows import USER, Conn, User, typed, where
from services.identity.throttling import Bucket
from services.runtime.db import Connection, one


async def password_hash(con: Conn, user_id: int) -> str | None:
    stored: str | None = await con.fetchval(
        "SELECT password_hash FROM credentials WHERE user_id = $1", user_id
    )
    return stored


async def set_password(con: Connection, user_id: int, password_hash: str) -> None:
    """Set the password; a reset an operator required is done. (The flow ends the account's
    pending challenges with `challenges.end_pending`.)"""
    await con.execute(
        "INSERT INTO credentials (user_id, password_hash) VALUES ($1, $2)"
        " ON CONFLICT (user_id) DO UPDATE SET password_hash = $2, updated_at = now()",
        user_id,
        password_hash,
    )
    await _password_replaced(con, user_id)


async def _password_replaced(con: Connection, user_id: int) -> None:
    await con.execute(
        "UPDATE users SET password_reset_required = false"
        " WHERE id = $1 AND password_reset_required",
        user_id,
    )


async def replace_password(
    con: Connection, user_id: int, verified_hash: str, new_hash: str
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
        await _password_replaced(con, user_id)
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
# before any verify, so concurrent guesses cannot all slip in under a limit. From a client the
# account's owner proved a factor from (`login_clients`, by `$4`, a keyed hash of client_ip),
# the attempt counts in that client's own lane of the account and nowhere else: a spray from
# elsewhere cannot lock the owner out of it, and nobody else can be in it without having
# signed in to the account from there. Any other attempt counts against the identifier given,
# the account it names (two buckets, because one shared by all of an account's identifiers
# would tell an attacker which ones belong together: failures by username would throttle that
# account's email at once) and the spray buckets `$5` (per client_ip, per calling AMQP user,
# global; their window is `$6`, the others' `$3`).
_WINDOW = "CASE WHEN f.account_key LIKE 'spray:%' THEN $6::interval ELSE $3::interval END"
_ATTEMPT = """
WITH u AS (SELECT {user}, c.password_hash,
                  EXISTS (SELECT 1 FROM login_clients k WHERE k.user_id = u.id
                          AND k.client = $4::bytea AND k.expires_at > now()) AS familiar
           FROM users u LEFT JOIN credentials c ON c.user_id = u.id WHERE {where}),
k AS (
    SELECT 'user:' || u.id || ':client:' || encode($4::bytea, 'hex') AS key FROM u WHERE u.familiar
    UNION ALL
    SELECT o.key FROM (SELECT $2::text AS key UNION ALL SELECT 'user:' || id FROM u
                       UNION ALL SELECT unnest($5::text[])) o
    WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.familiar)
),
a AS (
    INSERT INTO login_failures AS f (account_key, failures, window_start)
    SELECT key, 1, now() FROM k
    ON CONFLICT (account_key) DO UPDATE SET
        failures = CASE WHEN f.window_start <= now() - {window} THEN 1 ELSE f.failures + 1 END,
        window_start = CASE WHEN f.window_start <= now() - {window} THEN now()
                            ELSE f.window_start END
    RETURNING account_key, failures, window_start
)
SELECT u.*, t.now,
       ARRAY(SELECT account_key FROM a ORDER BY account_key) AS bucket_keys,
       ARRAY(SELECT failures FROM a ORDER BY account_key) AS bucket_failures,
       ARRAY(SELECT window_start FROM a ORDER BY account_key) AS bucket_starts
FROM (SELECT now() AS now) t LEFT JOIN u ON true
"""


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt, counted: the account the identifier names (None: none), its password
    hash, whether the client is one its owner proved a factor from (`familiar`), the buckets
    the attempt counted in (by key, as it left them), and the database's time."""

    user: User | None
    password_hash: str | None
    familiar: bool
    buckets: dict[str, Bucket]
    now: datetime


async def attempt(
    con: Conn,
    ident: Identifier,
    window: timedelta,
    client: bytes | None,
    spray_keys: Sequence[str],
    spray_window: timedelta,
) -> Attempt:
    sql = _ATTEMPT.format(user=USER, where=where(ident), window=_WINDOW)
    row = await con.fetchrow(
        sql, ident.value, ident.throttle_key, window, client, list(spray_keys), spray_window
    )
    row = one(row)
    buckets = {
        key: Bucket(failures, start)
        for key, failures, start in zip(
            row["bucket_keys"], row["bucket_failures"], row["bucket_starts"], strict=True
        )
    }
    known = row["id"] is not None  # the LEFT JOIN found an account
    return Attempt(
        user=typed(User, row) if known else None,
        password_hash=row["password_hash"],
        familiar=bool(row["familiar"]),
        buckets=buckets,
        now=row["now"],
    )


async def clear_failures(con: Conn, keys: list[str]) -> None:
    await con.execute("DELETE FROM login_failures WHERE account_key = ANY($1::text[])", keys)


async def refund(con: Conn, keys: Sequence[str]) -> None:
    """Take back the count of an attempt that turned out right: the spray buckets count failed
    sign-ins of many accounts, so a success takes back one, never the others'."""
    await con.execute(
        "UPDATE login_failures SET failures = failures - 1"
        " WHERE account_key = ANY($1::text[]) AND failures > 0",
        list(keys),
    )


@dataclass(frozen=True)
class ReauthCount:
    """A step-up counted in the account's own bucket, with the stored hash to check it."""

    failures: int
    window_start: datetime
    now: datetime
    password_hash: str | None


async def count_reauth(con: Conn, user_id: int, window: timedelta) -> ReauthCount:
    """Count a password or code given to prove it is the owner (a step-up, see
    `services.identity.reauth`) before it is checked, in the account's own bucket; with the
    stored hash, in the same round trip."""
    row = await con.fetchrow(
        "WITH a AS (INSERT INTO login_failures AS f (account_key, failures, window_start)"
        " VALUES ($2, 1, now()) ON CONFLICT (account_key) DO UPDATE SET"
        " failures = CASE WHEN f.window_start <= now() - $3::interval THEN 1"
        " ELSE f.failures + 1 END,"
        " window_start = CASE WHEN f.window_start <= now() - $3::interval THEN now()"
        " ELSE f.window_start END RETURNING failures, window_start)"
        " SELECT a.failures, a.window_start, now() AS now,"
        " (SELECT password_hash FROM credentials WHERE user_id = $1) AS password_hash FROM a",
        user_id,
        reauth_key(user_id),
        window,
    )
    return typed(ReauthCount, one(row))


def reauth_key(user_id: int) -> str:
    return f"reauth:user:{user_id}"
