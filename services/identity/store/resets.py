"""Password reset requests (counted per identifier and per account) and mailed reset tokens."""

from datetime import timedelta

import asyncpg

from services.identity.domain import Identifier
from services.identity.store.rows import USER, Conn, where
from services.runtime import outbox
from services.runtime.db import Connection, one

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
    con: Connection, ident: Identifier, window: timedelta
) -> asyncpg.Record:
    sql = _RESET_REQUEST.format(user=USER, where=where(ident))
    row = await con.fetchrow(sql, ident.value, ident.throttle_key, window)
    return one(row)


async def store_reset_token(
    con: Connection,
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


async def consume_reset_token(con: Connection, user_id: int, token_hash: bytes) -> bool:
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
