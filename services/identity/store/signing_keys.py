"""Access token signing keys (see services/identity/signing_keys.py): the key set, changed
under one advisory lock, and the retirement of keys whose successor signs."""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.identity.store.rows import Conn, typed
from services.runtime.db import Connection, one

# One advisory lock for every change to the key set: replicas starting together make one
# first key, and a rotation never races another.
_SIGNING_KEYS_LOCK = int.from_bytes(
    hashlib.sha256(b"gatehouse:identity:signing_keys").digest()[:8], "big", signed=True
)


SIGNING_KEY = (
    "kid, alg, public_jwk::text AS public_jwk, private_sealed, created_at, activates_at, retires_at"
)


@dataclass(frozen=True)
class StoredKey:
    """A signing key as stored: its private half sealed, its public JWK as JSON text."""

    kid: str
    alg: str
    public_jwk: str
    private_sealed: bytes
    created_at: datetime
    activates_at: datetime
    retires_at: datetime | None


@dataclass(frozen=True)
class StoredKeys:
    """Keys in activation order, and the database's time they were read at (activation times
    are compared with the database's clock, not this process's)."""

    keys: list[StoredKey]
    now: datetime


async def lock_signing_keys(con: Connection) -> None:
    """Held until the end of the transaction `con` is in."""
    assert con.is_in_transaction(), "an advisory xact lock outside a transaction is useless"
    await con.execute("SELECT pg_advisory_xact_lock($1)", _SIGNING_KEYS_LOCK)


async def signing_keys(con: Conn, *, retired: bool = False) -> StoredKeys:
    """Keys in activation order: those still verifying (and those yet to sign), or every
    stored one with `retired`."""
    where = "" if retired else " WHERE retires_at IS NULL OR retires_at > now()"
    rows = await con.fetch(
        f"SELECT {SIGNING_KEY}, now() AS now FROM signing_keys{where}"
        " ORDER BY activates_at, created_at"
    )
    now = rows[0]["now"] if rows else datetime.now(UTC)
    return StoredKeys([typed(StoredKey, row) for row in rows], now)


async def insert_signing_key(
    con: Conn,
    kid: str,
    alg: str,
    public_jwk: dict[str, Any],
    private_sealed: bytes,
    activates_in: timedelta,
) -> StoredKey:
    row = await con.fetchrow(
        "INSERT INTO signing_keys (kid, alg, public_jwk, private_sealed, activates_at)"
        f" VALUES ($1, $2, $3::jsonb, $4, now() + $5::interval) RETURNING {SIGNING_KEY}",
        kid,
        alg,
        json.dumps(public_jwk),
        private_sealed,
        activates_in,
    )
    return typed(StoredKey, one(row))


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
