"""Password reset requests (counted per identifier and per account) and mailed reset tokens."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.identity.domain import Identifier
from services.identity.store.rows import USER, Conn, User, typed, where_proven
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


@dataclass(frozen=True)
class ResetRequests:
    """The requests counted against an identifier in the current window, and the time now."""

    requests: int
    window_start: datetime
    now: datetime


async def queue_reset_request(
    con: Connection,
    ident: Identifier,
    window: timedelta,
    cap: int,
    template: str | None,
    email_property: str | None,
) -> ResetRequests:
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
    return typed(ResetRequests, one(row))


@dataclass(frozen=True)
class QueuedReset:
    """A reset request the mail worker has to handle: the identifier, and the caller's
    choices of template and address property."""

    kind: str
    value: str
    template: str | None
    email_property: str | None


async def take_queued(con: Connection, batch: int) -> list[QueuedReset]:
    """Queued requests for this transaction to handle; another replica skips them."""
    rows = await con.fetch(
        "DELETE FROM reset_queue WHERE id IN (SELECT id FROM reset_queue ORDER BY id"
        " LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING kind, value, template, email_property",
        batch,
    )
    return [typed(QueuedReset, row) for row in rows]


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


@dataclass(frozen=True)
class RequestedUser(User):
    """The account a reset request names, with its requests in the current window."""

    account_requests: int


async def count_account_request(
    con: Connection, ident: Identifier, window: timedelta
) -> RequestedUser | None:
    sql = _ACCOUNT.format(user=USER, where=where_proven(ident))
    row = await con.fetchrow(sql, ident.value, window)
    return None if row is None else typed(RequestedUser, row)


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
