"""Idempotency keys: the same request with the same key within the TTL returns the stored reply
and changes nothing.

A key belongs to its caller and to its request:
- it is scoped by (command, caller, key), the caller being the AMQP `user_id` of the message
  (RabbitMQ refuses a `user_id` that is not the connection's user) or none: one caller's key
  never reaches another caller's reply;
- the request is bound to it by an HMAC under the service's reply key, so the same key with
  another request is `invalid_params` naming `idempotency-key`, never the stored reply. Not a
  plain hash: a login's body holds a password, and a fast hash of it at rest could be
  brute-forced offline;
- the reply is sealed like a recorded reply (`services.runtime.recorded_replies.Sealer`).

Lookups (`Command.read_only`) keep nothing: they run every time (`services.runtime.commands`).
The database settles races: the first caller inserts a claim row, a concurrent duplicate finds
it and waits for the reply instead of running the command a second time.
"""

import asyncio
import hmac
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from contracts.errors import ErrorCode
from contracts.topology import IDEMPOTENCY_HEADER
from gatehouse import _envelope as envelope
from services.runtime import db
from services.runtime.recorded_replies import Sealer

REUSED = envelope.error(
    ErrorCode.invalid_params,
    f"{IDEMPOTENCY_HEADER}: already used by another request to this command",
    fields=[{"field": IDEMPOTENCY_HEADER, "message": "already used by another request"}],
)
UNREADABLE = envelope.error(
    ErrorCode.invalid_operation,
    "a call with this idempotency key was already answered, under a server key this service no"
    " longer has, so its reply cannot be read; it did not run again",
    already_answered=True,
)

_CLAIM = """
INSERT INTO idempotency (routing_key, caller, key, request_mac, key_id)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (routing_key, caller, key) DO UPDATE
    SET reply = NULL, created_at = now(), request_mac = EXCLUDED.request_mac,
        key_id = EXCLUDED.key_id
    WHERE idempotency.created_at < now() - $6::interval
       OR (idempotency.reply IS NULL AND idempotency.created_at < now() - $7::interval)
RETURNING true
"""
_WHERE = "routing_key = $1 AND caller = $2 AND key = $3"


@dataclass(frozen=True)
class Slot:
    """One caller's key for one command, and the MAC of the request that came with it."""

    routing_key: str
    caller: str  # '' for a message without a user_id
    key: str
    request_mac: bytes

    @property
    def where(self) -> tuple[str, str, str]:
        return self.routing_key, self.caller, self.key

    @property
    def bound_to(self) -> bytes:
        return "\x00".join(self.where).encode()


class IdempotencyStore:
    def __init__(
        self, pool: asyncpg.Pool, sealer: Sealer, ttl: timedelta, stale_claim: timedelta
    ) -> None:
        self._pool = pool
        self._sealer = sealer
        self._ttl = ttl
        # A claim without a reply this old belongs to a consumer that died mid-command.
        self._stale_claim = stale_claim

    def slot(self, routing_key: str, caller: str | None, key: str, request: bytes) -> Slot:
        who = caller or ""
        parts = (b"idempotency", routing_key.encode(), who.encode(), key.encode(), request)
        return Slot(routing_key, who, key, self._sealer.mac(*parts))

    async def claim(self, slot: Slot) -> bool:
        """True when this caller runs the command; False when another call already did."""
        claimed = await self._pool.fetchval(
            _CLAIM,
            *slot.where,
            slot.request_mac,
            self._sealer.key_id,
            self._ttl,
            self._stale_claim,
        )
        return bool(claimed)

    async def stored_reply(self, slot: Slot, wait_s: float) -> bytes | None:
        """The first call's reply (`REUSED` for another request, `UNREADABLE` for one made
        under another key), waiting up to `wait_s` for a call still in flight."""
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            row = await self._pool.fetchrow(
                f"SELECT request_mac, key_id, reply FROM idempotency WHERE {_WHERE}", *slot.where
            )
            if row is not None:
                if bytes(row["key_id"]) != self._sealer.key_id:
                    return UNREADABLE
                if not hmac.compare_digest(bytes(row["request_mac"]), slot.request_mac):
                    return REUSED
                if row["reply"] is not None:
                    opened = self._sealer.open(bytes(row["reply"]), slot.bound_to)
                    return UNREADABLE if opened is None else opened
            if asyncio.get_running_loop().time() >= deadline:
                return None
            await asyncio.sleep(0.05)

    async def save(self, slot: Slot, reply: bytes) -> None:
        await self._pool.execute(
            f"UPDATE idempotency SET reply = $5 WHERE {_WHERE} AND request_mac = $4",
            *slot.where,
            slot.request_mac,
            self._sealer.seal(reply, slot.bound_to),
        )

    async def release(self, slot: Slot) -> None:
        """Forget a claim whose command failed unexpectedly, so a retry may run it."""
        await self._pool.execute(
            f"DELETE FROM idempotency WHERE {_WHERE} AND request_mac = $4 AND reply IS NULL",
            *slot.where,
            slot.request_mac,
        )


async def purge_expired(pool: asyncpg.Pool, ttl: timedelta) -> int:
    return await db.delete(
        pool, "DELETE FROM idempotency WHERE created_at < now() - $1::interval", ttl
    )
