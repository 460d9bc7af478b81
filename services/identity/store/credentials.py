"""Passwords and sign-in throttling: set, compare-and-set, re-hash, count an attempt."""

from datetime import timedelta

import asyncpg

from services.identity.domain import Identifier
from services.identity.store.rows import USER, Conn, where
from services.runtime.db import Connection, one


async def password_hash(con: Conn, user_id: int) -> str | None:
    return await con.fetchval("SELECT password_hash FROM credentials WHERE user_id = $1", user_id)


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
    sql = _ATTEMPT.format(user=USER, where=where(ident))
    row = await con.fetchrow(sql, ident.value, ident.throttle_key, window)
    return one(row)


async def clear_failures(con: Conn, keys: list[str]) -> None:
    await con.execute("DELETE FROM login_failures WHERE account_key = ANY($1::text[])", keys)
