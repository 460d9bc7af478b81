"""Recorded replies: a state-changing command is answered once per message id.

The runtime writes a command's reply in the transaction of its effect (`services.runtime.work`),
keyed by (routing key, AMQP message id). A redelivered or duplicated message finds that reply
and gets it again; the command does not run twice. A concurrent duplicate that gets as far as
its own commit loses on the primary key: its transaction, effect included, rolls back and it
answers with the winner's reply.

What a row keeps, and why nothing in it helps an attacker who reads the table:
- `request_mac`: an HMAC of the request under a server key. A message id reused with another
  body is refused rather than answered with someone else's reply (a login's reply holds a
  session token). A plain hash of a login's body could be brute-forced offline for the
  password; the key makes that impossible without the server's secret.
- `reply`: sealed with AES-256-GCM under a server key, bound to its routing key and message id.
- `key_id`: which key did both (`services.runtime.keys.RecordKeys`). A record made under
  another key (a rotated `GATEHOUSE_REPLY_KEY`) can be neither checked nor opened: it is
  answered `UNREADABLE`, never `REUSED`, since nothing says the request differed.

The keys are the service's own (`Settings.record_keys`, from `GATEHOUSE_REPLY_KEY`); the
idempotency keys of `services.runtime.idempotency` use the same `Sealer`.
"""

import hashlib
import hmac
import os
from datetime import timedelta

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts.errors import ErrorCode
from gatehouse import _envelope as envelope
from services.runtime import db
from services.runtime.db import Conn
from services.runtime.keys import RecordKeys

# What a message id may be: stored as text, so no NUL; bounded, so no row grows unbounded.
MAX_MESSAGE_ID = 200

REUSED = envelope.error(
    ErrorCode.invalid_params,
    "message_id: already used by another request to this command",
    fields=[{"field": "message_id", "message": "already used by another request"}],
)
# Honest about what happened: the message ran once, and what it answered is lost.
UNREADABLE = envelope.error(
    ErrorCode.invalid_operation,
    "this message was already answered, under a server key this service no longer has, so"
    " its reply cannot be read; it did not run again. Send a new message if its effect is"
    " still wanted",
    already_answered=True,
)


class Duplicate(Exception):
    """Another delivery of the same message recorded its reply first."""


def valid_message_id(message_id: str) -> bool:
    return 0 < len(message_id) <= MAX_MESSAGE_ID and "\x00" not in message_id


class Sealer:
    """MACs requests and seals replies under one service's `RecordKeys`."""

    def __init__(self, keys: RecordKeys) -> None:
        self._mac_key = keys.request_mac
        self._aead = AESGCM(keys.reply_seal)
        self.key_id = keys.key_id

    def mac(self, *parts: bytes) -> bytes:
        mac = hmac.new(self._mac_key, digestmod=hashlib.sha256)
        for part in parts:  # length-prefixed: no two lists of parts read alike
            mac.update(len(part).to_bytes(8, "big"))
            mac.update(part)
        return mac.digest()

    def seal(self, reply: bytes, bound_to: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, reply, bound_to)

    def open(self, sealed: bytes, bound_to: bytes) -> bytes | None:
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], bound_to)
        except InvalidTag:
            return None


class Replies:
    def __init__(self, pool: asyncpg.Pool, sealer: Sealer) -> None:
        self._pool = pool
        self._sealer = sealer

    def request_mac(self, routing_key: str, message_id: str, body: bytes) -> bytes:
        return self._sealer.mac(routing_key.encode(), message_id.encode(), body)

    async def find(self, routing_key: str, message_id: str, request_mac: bytes) -> bytes | None:
        """The recorded reply of this message, `REUSED` for another body, `UNREADABLE` for a
        record this service's key cannot check or open, or None."""
        row = await self._pool.fetchrow(
            "SELECT request_mac, key_id, reply FROM replies"
            " WHERE routing_key = $1 AND message_id = $2",
            routing_key,
            message_id,
        )
        if row is None:
            return None
        if row["key_id"] is None or bytes(row["key_id"]) != self._sealer.key_id:
            return UNREADABLE
        if not hmac.compare_digest(bytes(row["request_mac"]), request_mac):
            return REUSED
        opened = self._sealer.open(bytes(row["reply"]), _bound_to(routing_key, message_id))
        return UNREADABLE if opened is None else opened

    async def record(
        self, con: Conn, routing_key: str, message_id: str, request_mac: bytes, reply: bytes
    ) -> None:
        """Write the reply; raises `Duplicate` when this message already has one."""
        recorded = await con.fetchval(
            "INSERT INTO replies (routing_key, message_id, request_mac, key_id, reply)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true",
            routing_key,
            message_id,
            request_mac,
            self._sealer.key_id,
            self._sealer.seal(reply, _bound_to(routing_key, message_id)),
        )
        if not recorded:
            raise Duplicate(message_id)


async def purge_expired(pool: asyncpg.Pool, ttl: timedelta) -> int:
    return await db.delete(pool, "DELETE FROM replies WHERE created_at < now() - $1::interval", ttl)


def _bound_to(routing_key: str, message_id: str) -> bytes:
    return f"{routing_key}\x00{message_id}".encode()
