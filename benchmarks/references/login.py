"""`identity.login.v1` with a password, by hand: ours is services/identity/flows/sessions.py
`_login_with_password`, then gate.py `sign_in` (admit, enter), store/credentials.py `attempt`
and store/sessions.py `create_session`, run by the runtime's unit of work with its recorded
reply, and the outbox relay that publishes `user.logged_in.v1`.

Guarantees ours keeps, and where this one keeps them:
- the runtime's (size limit, message id, dead-lettering, an envelope for everything, the
  command counter): `references.amqp`; answered once per message id, the reply recorded in
  the session's transaction, refusals recorded too: `references.records`, `answer`;
- the request's shape (exactly one identifier, a password of 1 to 80 characters, `client`,
  `remember`, `view`, nothing else): `_request`; the identifier normalised as ours does it
  (a username's NFKC case-folded key, email-validator, phonenumbers): `_identifier`;
- the attempt counted before any verify, in one statement that also reads the account, its
  hash and whether the client is one its owner proved a factor from: `ATTEMPT`, the same as
  ours; refused while over the limits (the identifier's bucket, the spray buckets per client,
  caller and overall, or the client's own lane), before any hash: `_refusal`;
- one argon2id verify (m=19 MiB, t=2, p=1) off the event loop for every outcome: unknown
  user, no password, an account over its limit and a wrong password all verify (a dummy hash
  where there is none) and answer the same `invalid_credentials`: `answer`;
- a right password takes back its count in the spray buckets; an outdated hash is re-hashed
  with a compare-and-set: `answer`;
- the account's standing (disabled, a password reset owed) checked, then again inside the
  transaction under `FOR KEY SHARE`, so a disable cannot slip past: `answer`;
- two-factor policy (`GATEHOUSE_MFA` off, its default) and post-login hooks: the hook
  registry read at most every 2 s; no hook worker is called here, so a registered hook is
  answered `hook_unavailable` (the benchmark registers none): `answer`;
- the session (256-bit token stored as SHA-256, sliding and absolute expiry, factors, the
  client made known), the identifier's and account's failures cleared, `last_login_at`, and
  `user.logged_in.v1` in the outbox, all in one statement of one transaction: `SESSION`,
  the same as ours; a remember token when asked for: `REMEMBER`;
- the event published with a confirm by the relay: `references.relay`;
- the reply: `LoginResult`'s fields, the user view, the session; no secret in any log.

Not kept: code sign-in (`code`) and the `idempotency-key` header, both refused as
`invalid_params` (the benchmark sends neither).
"""

import asyncio
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import time
import unicodedata
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import asyncpg
import phonenumbers
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email

from benchmarks.references import amqp
from benchmarks.references.authenticate import DISABLED, account_disabled, monaca_json, user_json
from benchmarks.references.records import Records

ROUTING_KEY = "identity.login.v1"
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)
# Settings' defaults (services/runtime/settings.py); the benchmark lifts max_failures.
SESSION_TTL, ABSOLUTE_TTL = timedelta(days=1), timedelta(days=30)
REMEMBER_TTL, CHAIN_TTL = timedelta(days=30), timedelta(days=90)
FAILURE_WINDOW, SPRAY_WINDOW = timedelta(minutes=15), timedelta(seconds=60)
KNOWN_CLIENT_TTL = timedelta(days=90)
SPRAY_LIMITS = {"spray:ip:": 30, "spray:caller:": 300, "spray:global": 1200}
REGISTRY_TTL_S = 2.0
USER = (
    "u.id, u.public_id, u.username, u.email, u.phone, u.email_verified, u.phone_verified,"
    " u.properties::text AS properties, u.created_at, u.updated_at,"
    " u.app_metadata::text AS app_metadata, u.user_metadata::text AS user_metadata,"
    f" u.mfa_enabled, u.disabled_until, u.password_reset_required, {DISABLED} AS disabled"
)
WINDOW = "CASE WHEN f.account_key LIKE 'spray:%' THEN $6::interval ELSE $3::interval END"
ATTEMPT = """
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
ATTEMPTS = {
    kind: ATTEMPT.format(user=USER, where=where, window=WINDOW)
    for kind, where in (
        ("username", "u.username_key = $1"),
        ("email", "u.email = $1"),
        ("phone", "u.phone = $1"),
    )
}
SESSION = """
WITH cleared AS (DELETE FROM login_failures WHERE account_key = ANY($7::text[])),
seen AS (UPDATE users SET last_login_at = now() WHERE id = $2),
known AS (INSERT INTO login_clients (user_id, client, expires_at)
          SELECT $2, $10::bytea, now() + $11::interval WHERE $10::bytea IS NOT NULL
          ON CONFLICT (user_id, client) DO UPDATE SET expires_at = EXCLUDED.expires_at),
outbox_event AS (INSERT INTO outbox (event_id, routing_key, body, exchange)
                 VALUES ($12, 'user.logged_in.v1', $13, NULL)),
session AS (INSERT INTO sessions (public_id, user_id, token_hash, method, expires_at,
                                  absolute_expires_at, factors, chain_id, proved_at)
            VALUES ($1, $2, $3, $4, LEAST(now() + $5::interval, now() + $6::interval),
                    now() + $6::interval, $8, $9, now())
            RETURNING expires_at)
SELECT expires_at FROM session
"""
REMEMBER = """
INSERT INTO remember_tokens (token_hash, user_id, session_public_id, expires_at, factors,
                             chain_id, chain_expires_at, proved_at)
VALUES ($1, $2, $3, LEAST(now() + $4::interval, now() + $7::interval), $5, $6,
        now() + $7::interval, now())
"""
LOCK = f"SELECT {DISABLED} AS disabled, u.disabled_until, u.password_reset_required" + (
    " FROM users u WHERE u.id = $1 FOR KEY SHARE"
)
INVALID_CREDENTIALS = amqp.error("invalid_credentials", 13, "the credentials do not match")
LOGIN_REQUIRED = amqp.error(
    "login_required", 11, "the session is missing, expired or revoked; sign in again"
)
RESET_REQUIRED = amqp.error(
    "password_reset_required",
    13,
    "this account must set a new password before it signs in: reset it with a code"
    " (reset_password) or a mailed token (send_password_reset_token)",
)
FIELDS = {"username", "email", "phone", "password", "code", "client", "remember", "view"}


def _request(body: bytes) -> dict[str, Any] | bytes:
    try:
        request = json.loads(body)
    except ValueError:
        return amqp.invalid("body", "Invalid JSON")
    if not isinstance(request, dict):
        return amqp.invalid("body", "Input should be an object")
    for field in request.keys() - FIELDS:
        return amqp.invalid(field, "Extra inputs are not permitted")
    for field, longest in (("username", 255), ("email", 320), ("phone", 32), ("password", 80)):
        value = request.get(field)
        if value is not None and not (isinstance(value, str) and 0 < len(value) <= longest):
            return amqp.invalid(field, f"a string of at most {longest} characters")
        if isinstance(value, str) and "\x00" in value:
            return amqp.invalid(field, "must not contain NUL")
    client = request.get("client")
    if client is not None and not (
        isinstance(client, dict)
        and client.keys() <= {"client_ip", "user_agent"}
        and all(v is None or isinstance(v, str) for v in client.values())
    ):
        return amqp.invalid("client", "client_ip and user_agent")
    if not isinstance(request.get("remember", False), bool):
        return amqp.invalid("remember", "Input should be a valid boolean")
    if request.get("view", "gatehouse") not in ("gatehouse", "monaca"):
        return amqp.invalid("view", "Input should be 'gatehouse' or 'monaca'")
    if request.get("code") is not None or request.get("password") is None:
        return amqp.invalid("code", "code sign-in is not part of this reference")
    return request


def _identifier(request: dict[str, Any]) -> tuple[str, str] | bytes:
    given = [k for k in ("username", "email", "phone") if request.get(k) is not None]
    if len(given) != 1:
        return amqp.invalid(given[0] if given else "username", "give exactly one identifier")
    kind, raw = given[0], request[given[0]]
    if kind == "username":
        return kind, unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", raw).casefold())
    if kind == "email":
        try:
            return kind, validate_email(raw.strip(), check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            return amqp.invalid("email", "not a valid email address")
    try:
        number = phonenumbers.parse(raw.strip(), None)
    except phonenumbers.NumberParseException:
        return amqp.invalid("phone", "not a valid phone number")
    if not phonenumbers.is_valid_number(number):
        return amqp.invalid("phone", "not a valid phone number for its country")
    return kind, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _network(client_ip: str) -> str:
    text = client_ip.strip().lower()
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


def _retry_after(start: datetime, window: timedelta, now: datetime) -> int:
    return max(1, int((start + window - now).total_seconds() + 0.999))


def _over(failures: int, start: datetime, now: datetime, limit: int, window: timedelta) -> bool:
    return failures > limit and start + window > now


def _throttled(bucket: tuple[int, datetime], now: datetime, max_failures: int) -> bytes | None:
    failures, start = bucket
    if not _over(failures, start, now, max_failures, FAILURE_WINDOW):
        return None
    return amqp.error(
        "too_many_attempts",
        13,
        "too many failed sign-ins with this identifier; try again later",
        retry_after_s=_retry_after(start, FAILURE_WINDOW, now),
    )


def _spray_refusal(buckets: dict[str, tuple[int, datetime]], now: datetime) -> bytes | None:
    over = [
        _retry_after(start, SPRAY_WINDOW, now)
        for key, (failures, start) in buckets.items()
        if key.startswith("spray:") and _over(failures, start, now, _spray_limit(key), SPRAY_WINDOW)
    ]
    if not over:
        return None
    return amqp.error(
        "rate_limited",
        13,
        "too many failed sign-ins from this client; try again later",
        retry_after_s=max(over),
    )


def _spray_limit(key: str) -> int:
    return next(limit for prefix, limit in SPRAY_LIMITS.items() if key.startswith(prefix))


class _Refused(Exception):
    def __init__(self, reply: bytes) -> None:
        self.reply = reply


class _Duplicate(Exception):
    pass


def answerer(pool: asyncpg.Pool, secret: bytes, *, max_failures: int) -> amqp.Answer:
    records = Records(pool, secret, ROUTING_KEY)
    client_key = hmac.new(secret, b"login client", hashlib.sha256).digest()
    # As wide as the machine: argon2-cffi releases the GIL, and more hashes than cores at once
    # only share the caches worse.
    threads = ThreadPoolExecutor(os.cpu_count(), thread_name_prefix="password-hash")
    dummy = HASHER.hash(secrets.token_urlsafe(16))
    hooks: list[Any] = []
    hooks_read = [-REGISTRY_TTL_S]

    def check(password: str, stored: str | None) -> tuple[bool, str | None]:
        try:
            HASHER.verify(stored or dummy, password)
        except (VerificationError, InvalidHashError):
            return False, None
        if stored is None:
            return False, None
        return True, HASHER.hash(password) if HASHER.check_needs_rehash(stored) else None

    async def post_login_hooks() -> list[Any]:
        if time.monotonic() - hooks_read[0] >= REGISTRY_TTL_S:
            hooks[:] = await pool.fetch(
                "SELECT name, priority FROM hooks"
                " WHERE namespace = current_setting('gatehouse.namespace') AND trigger = $1"
                " ORDER BY priority, name",
                "post_login",
            )
            hooks_read[0] = time.monotonic()
        return hooks

    async def sign_in(
        request: dict[str, Any], message_id: str | None, mac: bytes, caller: str | None
    ) -> bytes:
        ident = _identifier(request)
        if isinstance(ident, bytes):
            return ident
        kind, value = ident
        throttle_key = f"{kind}:{value}"
        ip = (request.get("client") or {}).get("client_ip")
        client = (
            hmac.new(client_key, _network(ip).encode(), hashlib.sha256).digest() if ip else None
        )
        spray = ["spray:global"]
        spray += [f"spray:ip:{client.hex()}"] if client else []
        spray += [f"spray:caller:{caller}"] if caller else []
        row = await pool.fetchrow(
            ATTEMPTS[kind], value, throttle_key, FAILURE_WINDOW, client, spray, SPRAY_WINDOW
        )
        assert row is not None, "the attempt returns one row"
        now = row["now"]
        buckets = dict(
            zip(
                row["bucket_keys"],
                zip(row["bucket_failures"], row["bucket_starts"], strict=True),
                strict=True,
            )
        )
        user_id = row["id"]
        if row["familiar"]:
            assert client is not None
            keys = [f"user:{user_id}:client:{client.hex()}"]
            refusal = _throttled(buckets[keys[0]], now, max_failures)
        else:
            keys = [throttle_key] + ([f"user:{user_id}"] if user_id is not None else [])
            refusal = _throttled(buckets[throttle_key], now, max_failures) or _spray_refusal(
                buckets, now
            )
        if refusal is not None:
            return refusal
        stored = row["password_hash"]
        account = buckets.get(f"user:{user_id}") if user_id is not None else None
        if account is not None and _over(account[0], account[1], now, max_failures, FAILURE_WINDOW):
            stored = None
        loop = asyncio.get_running_loop()
        matches, new_hash = await loop.run_in_executor(threads, check, request["password"], stored)
        if not matches:
            return INVALID_CREDENTIALS
        if not row["familiar"]:
            await pool.execute(
                "UPDATE login_failures SET failures = failures - 1"
                " WHERE account_key = ANY($1::text[]) AND failures > 0",
                spray,
            )
        if new_hash is not None:
            await pool.execute(
                "UPDATE credentials SET password_hash = $3"
                " WHERE user_id = $1 AND password_hash = $2",
                user_id,
                stored,
                new_hash,
            )
        if row["disabled"]:
            return account_disabled(row["disabled_until"])
        if row["password_reset_required"]:
            return RESET_REQUIRED
        if await post_login_hooks():
            return amqp.error("hook_unavailable", 13, "this reference calls no hook worker")
        method = f"{kind}_password"
        token, session_id = secrets.token_urlsafe(32), f"s_{secrets.token_urlsafe(12)}"
        event_id = uuid.uuid4()
        event = {
            "specversion": "1.0",
            "id": str(event_id),
            "source": "gatehouse/identity",
            "type": "user.logged_in.v1",
            "time": amqp.stamp(datetime.now(UTC)),
            "subject": row["public_id"],
            "datacontenttype": "application/json",
            "data": {"user_id": row["public_id"], "method": method, "session_id": session_id},
        }
        remember = request.get("remember", False)  # auto-login is on by default
        chain_id = f"c_{secrets.token_urlsafe(12)}" if remember else None
        try:
            async with pool.acquire() as con, con.transaction():
                locked = await con.fetchrow(LOCK, user_id)
                if locked is None:
                    raise _Refused(LOGIN_REQUIRED)
                if locked["disabled"]:
                    raise _Refused(account_disabled(locked["disabled_until"]))
                if locked["password_reset_required"]:
                    raise _Refused(RESET_REQUIRED)
                expires_at = await con.fetchval(
                    SESSION,
                    session_id,
                    user_id,
                    hashlib.sha256(token.encode()).digest(),
                    method,
                    SESSION_TTL,
                    ABSOLUTE_TTL,
                    keys,
                    ["pwd"],
                    chain_id,
                    client,
                    KNOWN_CLIENT_TTL,
                    event_id,
                    json.dumps(event, separators=(",", ":")).encode(),
                )
                remember_token = None
                if chain_id is not None:
                    remember_token = secrets.token_urlsafe(32)
                    await con.execute(
                        REMEMBER,
                        hashlib.sha256(remember_token.encode()).digest(),
                        user_id,
                        session_id,
                        REMEMBER_TTL,
                        ["pwd"],
                        chain_id,
                        CHAIN_TTL,
                    )
                session = json.dumps({"token": token, "expires_at": amqp.stamp(expires_at)})
                rest = json.dumps(
                    {
                        "remember_token": remember_token,
                        "mfa_required": False,
                        "mfa_token": None,
                        "contacts": None,
                        "access_token": None,
                        "access_token_expires_at": None,
                    }
                )[1:-1]
                monaca = monaca_json(row, request.get("view", "gatehouse"))
                reply = (
                    f'{{"ok":true,"result":{{"user": {user_json(row)}, "session": {session},'
                    f" {rest}{monaca}}}}}"
                ).encode()
                if message_id is not None and not await records.record(con, message_id, mac, reply):
                    raise _Duplicate
                return reply  # commits on leaving the block
        except _Refused as refused:
            return refused.reply
        except _Duplicate:
            return await records.find(message_id or "", mac) or amqp.INTERNAL

    async def answer(message: aio_pika.abc.AbstractIncomingMessage) -> bytes:
        if (message.headers or {}).get("idempotency-key") is not None:
            return amqp.invalid("idempotency-key", "not kept by this reference")
        request = _request(message.body)
        if isinstance(request, bytes):
            return request
        message_id, mac = message.message_id, b""
        if message_id is not None:
            canonical = json.dumps(request, separators=(",", ":"), ensure_ascii=False).encode()
            mac = records.mac(message_id, canonical)
            if (recorded := await records.find(message_id, mac)) is not None:
                return recorded
        reply = await sign_in(request, message_id, mac, message.user_id)
        refused = not reply.startswith(b'{"ok":true')
        if (
            message_id is not None
            and refused
            and not await records.record(pool, message_id, mac, reply)
        ):
            return await records.find(message_id, mac) or amqp.INTERNAL
        return reply

    return answer
