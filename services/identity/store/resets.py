"""Password reset requests (counted per identifier and per account) and mailed reset tokens."""

from datetime import timedelta

import asyncpg

from services.identity.domain import Identifier
from services.identity.store.rows import USER, Conn, where_proven
from services.runtime import outbox
from services.runtime.db import Connection, one

# A reset request: counted against the identifier given and, within its cap, queued for the
# worker; one statement that known and unknown identifiers share, with nothing looked up.
_QUEUE = """
WITH r AS (
    INSERT INTO reset_requests AS q (key, requests, window_start) VALUES ($1, 1, now())
    ON CONFLICT (key) DO UPDATE SET
        requests = CASE WHEN q.window_start <= now() - $2::interval THEN 1
                        ELSE q.requests + 1 END,
        window_start = CASE WHEN q.window_start <= now() - $2::interval THEN now()
                            ELSE q.window_start END
    RETURNING requests, window_start
),
queued AS (
    INSERT INTO reset_queue (kind, value, template, email_property)
    SELECT $3, $4, $5, $6 FROM r WHERE r.requests <= $7
)
SELECT requests, window_start, now() AS now FROM r
"""


async def queue_reset_request(
    con: Connection,
    ident: Identifier,
    window: timedelta,
    cap: int,
    template: str | None,
    email_property: str | None,
) -> asyncpg.Record:
    row = await con.fetchrow(
        _QUEUE,
        ident.throttle_key,
        window,
        ident.kind.value,
        ident.value,
        template,
        email_property,
        cap,
    )
    return one(row)


async def take_queued(con: Connection, batch: int) -> list[asyncpg.Record]:
    """Queued requests for this transaction to handle; another replica skips them."""
    return await con.fetch(
        "DELETE FROM reset_queue WHERE id IN (SELECT id FROM reset_queue ORDER BY id"
        " LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING kind, value, template, email_property",
        batch,
    )


# The account a queued request names (by its username, or a contact it verified), counted
# against the account's own hourly cap.
_ACCOUNT = """
WITH u AS (SELECT {user} FROM users u WHERE {where}),
r AS (
    INSERT INTO reset_requests AS q (key, requests, window_start)
    SELECT 'user:' || id, 1, now() FROM u
    ON CONFLICT (key) DO UPDATE SET
        requests = CASE WHEN q.window_start <= now() - $2::interval THEN 1
                        ELSE q.requests + 1 END,
        window_start = CASE WHEN q.window_start <= now() - $2::interval THEN now()
                            ELSE q.window_start END
    RETURNING requests
)
SELECT u.*, r.requests AS account_requests FROM u, r
"""


async def count_account_request(
    con: Connection, ident: Identifier, window: timedelta
) -> asyncpg.Record | None:
    sql = _ACCOUNT.format(user=USER, where=where_proven(ident))
    return await con.fetchrow(sql, ident.value, window)


async def store_reset_token(
    con: Connection, user_id: int, token_hash: bytes, ttl: timedelta, mail: outbox.Row
) -> None:
    """A reset token and the mail that carries it, which leaves once this commits."""
    await con.execute(
        "WITH token AS (INSERT INTO reset_tokens (token_hash, user_id, expires_at)"
        f" VALUES ($1, $2, now() + $3::interval)), {outbox.cte(4)} SELECT 1",
        token_hash,
        user_id,
        ttl,
        *mail,
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
