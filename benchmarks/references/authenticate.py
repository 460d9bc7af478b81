"""`identity.authenticate.v1` by hand: ours is services/identity/flows/sessions.py
`authenticate`, through `IdentityService.current` and store/sessions.py `session_user`.

Guarantees ours keeps, and where this one keeps them:
- the runtime's (size limit, message id, dead-lettering, an envelope for everything, the
  command counter): `references.amqp`;
- the request's shape: a JSON object with `token` (16 to 128 of `[A-Za-z0-9_-]`) and an
  optional `view` (`gatehouse` or `monaca`), nothing else: `_request`;
- the session found by the SHA-256 of its token, only while `expires_at` is ahead: `SQL`;
- the sliding expiry, capped by the absolute one, written only once it lags a minute behind
  (one write a minute per busy session, not one per call): `SQL`, the same statement as ours;
- a disabled account answers `account_disabled` (with `until` when the disable ends), a
  missing, expired or revoked session `login_required`: `answer`;
- read-only, so no recorded reply (ours records none either);
- the reply: the user view (id, username, contacts, verified flags, properties, metadata,
  mfa flag, times) and the session's new expiry, times as ISO 8601 in UTC with `Z`; with
  `view: monaca`, seed 004's user object beside it: `_reply`.

Shortcut ours cannot take as it stands: the jsonb columns are spliced into the reply as the
text PostgreSQL returns (ours parses them and dumps them again through the reply model).
"""

import hashlib
import json
import re
from datetime import datetime, timedelta
from typing import Any

import aio_pika
import asyncpg

from benchmarks.references import amqp

ROUTING_KEY = "identity.authenticate.v1"
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,128}")
DISABLED = "(u.disabled_at IS NOT NULL AND (u.disabled_until IS NULL OR u.disabled_until > now()))"
SQL = f"""
WITH s AS (SELECT id, user_id, expires_at, absolute_expires_at
           FROM sessions WHERE token_hash = $1 AND expires_at > now()),
bumped AS (
    UPDATE sessions SET expires_at = LEAST(now() + $2::interval, s.absolute_expires_at)
    FROM s WHERE sessions.id = s.id
      AND s.expires_at < LEAST(now() + $2::interval, s.absolute_expires_at) - interval '60 s'
    RETURNING sessions.expires_at
)
SELECT u.public_id, u.username, u.email, u.phone, u.email_verified, u.phone_verified,
       u.properties::text AS properties, u.app_metadata::text AS app_metadata,
       u.user_metadata::text AS user_metadata, u.mfa_enabled, u.created_at, u.updated_at,
       u.disabled_until, {DISABLED} AS disabled,
       coalesce((SELECT expires_at FROM bumped), s.expires_at) AS session_expires_at
FROM s JOIN users u ON u.id = s.user_id
"""
LOGIN_REQUIRED = amqp.error(
    "login_required", 11, "the session is missing, expired or revoked; sign in again"
)
SESSION_TTL = timedelta(seconds=86400)  # GATEHOUSE_SESSION_TTL_S's default


def _request(body: bytes) -> tuple[str, str] | bytes:
    """(token, view), or the `invalid_params` reply."""
    try:
        request = json.loads(body)
    except ValueError:
        return amqp.invalid("body", "Invalid JSON")
    if not isinstance(request, dict):
        return amqp.invalid("body", "Input should be an object")
    for field in request.keys() - {"token", "view"}:
        return amqp.invalid(field, "Extra inputs are not permitted")
    token, view = request.get("token"), request.get("view", "gatehouse")
    if not isinstance(token, str) or not TOKEN.fullmatch(token):
        return amqp.invalid("token", "a session token")
    if view not in ("gatehouse", "monaca"):
        return amqp.invalid("view", "Input should be 'gatehouse' or 'monaca'")
    return token, view


def user_json(row: asyncpg.Record) -> str:
    """The user view (`v1.User`) of a row with the user columns, jsonb ones as text."""
    head = {
        "id": row["public_id"],
        "username": row["username"],
        "email": row["email"],
        "phone": row["phone"],
        "email_verified": row["email_verified"],
        "phone_verified": row["phone_verified"],
    }
    tail = {
        "mfa_enabled": row["mfa_enabled"],
        "created_at": amqp.stamp(row["created_at"]),
        "updated_at": amqp.stamp(row["updated_at"]),
    }
    return (
        json.dumps(head)[:-1]
        + f', "properties": {row["properties"]}, "app_metadata": {row["app_metadata"]},'
        + f' "user_metadata": {row["user_metadata"]}, '
        + json.dumps(tail)[1:]
    )


def monaca_json(row: asyncpg.Record, view: str) -> str:
    """`, "monaca_user": {...}` when the request asked for seed 004's view, else nothing."""
    if view != "monaca":
        return ""
    seed: dict[str, Any] = {
        **json.loads(row["properties"]),
        "_id": row["public_id"],
        "_username": row["username"],
        "_createdAt": int(row["created_at"].timestamp()),
        "_updateAt": int(row["updated_at"].timestamp()),
    }
    return f', "monaca_user": {json.dumps(seed)}'


def _reply(row: asyncpg.Record, view: str) -> bytes:
    expires = amqp.stamp(row["session_expires_at"])
    user, monaca = user_json(row), monaca_json(row, view)
    return f'{{"ok":true,"result":{{"user": {user}, "expires_at": "{expires}"{monaca}}}}}'.encode()


def account_disabled(until: datetime | None) -> bytes:
    if until is None:
        return amqp.error("account_disabled", 13, "this account is disabled")
    when = amqp.stamp(until)
    return amqp.error("account_disabled", 13, f"this account is disabled until {when}", until=when)


def answerer(pool: asyncpg.Pool) -> amqp.Answer:
    async def answer(message: aio_pika.abc.AbstractIncomingMessage) -> bytes:
        parsed = _request(message.body)
        if isinstance(parsed, bytes):
            return parsed
        token, view = parsed
        row = await pool.fetchrow(SQL, hashlib.sha256(token.encode()).digest(), SESSION_TTL)
        if row is None:
            return LOGIN_REQUIRED
        if row["disabled"]:
            return account_disabled(row["disabled_until"])
        return _reply(row, view)

    return answer
