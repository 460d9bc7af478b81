"""Recorded replies by hand: ours is services/runtime/recorded_replies.py with the unit of
work of services/runtime/work.py. A state-changing command is answered once per message id:
its reply is looked up first, and recorded (sealed with AES-GCM, bound to routing key and
message id, beside an HMAC of the request so that a reused id with another body is refused)
in the transaction of its effect."""

import hashlib
import hmac
import os
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from benchmarks.references import amqp

REUSED = amqp.invalid("message_id", "already used by another request")


class Records:
    """Recorded replies: the same table, MAC and seal as ours, under this server's keys."""

    def __init__(self, pool: asyncpg.Pool, secret: bytes, routing_key: str) -> None:
        self.pool = pool
        self.routing_key = routing_key
        self.mac_key = hmac.new(secret, b"request mac", hashlib.sha256).digest()
        self.aead = AESGCM(hmac.new(secret, b"reply seal", hashlib.sha256).digest())
        self.key_id = hmac.new(self.mac_key, b"key id", hashlib.sha256).digest()[:8]

    def mac(self, message_id: str, body: bytes) -> bytes:
        mac = hmac.new(self.mac_key, digestmod=hashlib.sha256)
        for part in (self.routing_key.encode(), message_id.encode(), body):
            mac.update(len(part).to_bytes(8, "big"))
            mac.update(part)
        return mac.digest()

    async def find(self, message_id: str, mac: bytes) -> bytes | None:
        row = await self.pool.fetchrow(
            "SELECT request_mac, key_id, reply FROM replies"
            " WHERE routing_key = $1 AND message_id = $2",
            self.routing_key,
            message_id,
        )
        if row is None:
            return None
        if row["key_id"] != self.key_id or not hmac.compare_digest(row["request_mac"], mac):
            return REUSED
        sealed = bytes(row["reply"])
        bound = f"{self.routing_key}\x00{message_id}".encode()
        return self.aead.decrypt(sealed[:12], sealed[12:], bound)

    async def record(self, con: Any, message_id: str, mac: bytes, reply: bytes) -> bool:
        nonce = os.urandom(12)
        bound = f"{self.routing_key}\x00{message_id}".encode()
        sealed = nonce + self.aead.encrypt(nonce, reply, bound)
        return bool(
            await con.fetchval(
                "INSERT INTO replies (routing_key, message_id, request_mac, key_id, reply)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true",
                self.routing_key,
                message_id,
                mac,
                self.key_id,
                sealed,
            )
        )
