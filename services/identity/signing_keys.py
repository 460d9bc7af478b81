"""The keys that sign access tokens: made on first start, sealed at rest, rotated live.

- **First start.** Under an advisory lock (`store.signing_keys.lock_signing_keys`) a replica
  that finds no key makes one that signs at once; replicas starting together make one between
  them.
- **At rest.** The private half is sealed with AES-256-GCM under `IdentitySettings.signing_seal_key`
  (derived from `GATEHOUSE_SIGNING_KEY_SECRET`) and bound to its kid: the row alone opens
  nothing, and a sealed key cannot be passed off as another.
- **Rotation** (`gatehouse keys rotate`) adds a key that starts signing `publish_ahead()`
  later. Every replica rereads the keys each `GATEHOUSE_SIGNING_KEY_RELOAD_S` (R), and the JWK
  Set may be cached that long over HTTP, so by 2R every replica and every cache publishes the
  new key; a verifier that fetched just before that may fetch again after its refetch interval
  (I, `gatehouse.access_tokens`), so the key signs after 2R + I and no verifier meets its kid
  unable to fetch it. Each replica switches at the activation time, from the keys it already
  holds, with no restart.
- **Retirement.** Once its successor signs, a key verifies for the token lifetime plus
  `RETIRE_LEEWAY`, so every token it signed expires before it leaves the JWK Set; then
  housekeeping deletes it.
"""

import asyncio
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc.jwk import ECKey, Key, OKPKey, import_key

from gatehouse.access_tokens import DEFAULT_REFETCH_INTERVAL_S
from services.identity import store
from services.identity.settings import IdentitySettings
from services.identity.store.signing_keys import StoredKey, StoredKeys
from services.runtime.db import Connection

log = logging.getLogger("gatehouse.identity.keys")

# More than a verifier's leeway on `exp` (gatehouse.access_tokens allows 30 s) plus clock skew.
RETIRE_LEEWAY = timedelta(seconds=60)
VERIFIER_REFETCH = timedelta(seconds=DEFAULT_REFETCH_INTERVAL_S)
# A key that must sign at once (the first one) is dated back by this much, so that a replica
# whose clock runs a little behind the database's signs with it too.
AT_ONCE = -timedelta(minutes=1)


class SealedKeyError(Exception):
    """The signing key secret does not open this key (another secret sealed it)."""


def publish_ahead(settings: IdentitySettings) -> timedelta:
    return timedelta(seconds=2 * settings.signing_key_reload_s) + VERIFIER_REFETCH


def verify_for(settings: IdentitySettings) -> timedelta:
    """How long a key verifies after it stops signing: its last token's lifetime and more."""
    return timedelta(seconds=settings.access_token_ttl_s) + RETIRE_LEEWAY


def generate(alg: str) -> tuple[str, dict[str, Any], Key]:
    """A new key pair: (kid, public JWK, private key). The kid is the RFC 7638 thumbprint."""
    private: Key = OKPKey.generate_key("Ed25519") if alg == "EdDSA" else ECKey.generate_key("P-256")
    kid = private.thumbprint()
    public = {**private.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"}
    return kid, public, private


def seal(seal_key: bytes, kid: str, private: Key) -> bytes:
    nonce = os.urandom(12)
    plain = json.dumps(private.as_dict(private=True)).encode()
    return nonce + AESGCM(seal_key).encrypt(nonce, plain, _bound_to(kid))


def unseal(seal_key: bytes, kid: str, sealed: bytes) -> Key:
    try:
        plain = AESGCM(seal_key).decrypt(sealed[:12], sealed[12:], _bound_to(kid))
    except InvalidTag:
        raise SealedKeyError(kid) from None
    return import_key(json.loads(plain))


def _bound_to(kid: str) -> bytes:
    return b"gatehouse signing key\x00" + kid.encode()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    public: dict[str, Any]
    activates_at: datetime
    retires_at: datetime | None
    private: Key | None  # None: it does not open with this process's secret


class KeyRing:
    """The keys as last read: which one signs at a given time, which ones verify."""

    def __init__(self, keys: Sequence[SigningKey] = ()) -> None:
        self.keys = tuple(sorted(keys, key=lambda k: k.activates_at))

    def signer(self, now: datetime) -> SigningKey | None:
        """The newest key active at `now` (whose private half this replica could open)."""
        active = [k for k in self.keys if k.activates_at <= now and k.private is not None]
        return active[-1] if active else None

    def verifying(self, now: datetime) -> list[SigningKey]:
        """What the JWK Set lists: keys not retired, including those yet to sign."""
        return [k for k in self.keys if k.retires_at is None or k.retires_at > now]


def _signing_from(rows: Sequence[StoredKey], now: datetime) -> int:
    """Index of the row that signs at `now` (rows in activation order)."""
    active = [i for i, row in enumerate(rows) if row.activates_at <= now]
    return active[-1] if active else 0


def open_ring(stored: StoredKeys, seal_key: bytes) -> tuple[KeyRing, list[str]]:
    """The ring of `rows` (in activation order), and the kids of the keys that sign now or
    next but do not open with `seal_key` (a ring without them signs with the newest that
    does, which is logged as an error while it lasts)."""
    rows = stored.keys
    first = _signing_from(rows, stored.now)
    keys, unreadable = [], []
    for i, row in enumerate(rows):
        try:
            private = unseal(seal_key, row.kid, bytes(row.private_sealed))
        except SealedKeyError:
            private = None
            if i >= first:
                unreadable.append(row.kid)
        keys.append(
            SigningKey(
                row.kid,
                row.alg,
                json.loads(row.public_jwk),
                row.activates_at,
                row.retires_at,
                private,
            )
        )
    return KeyRing(keys), unreadable


async def add_key(
    con: Connection, settings: IdentitySettings, activates_in: timedelta
) -> StoredKey:
    kid, public, private = generate(settings.access_token_alg)
    sealed = seal(settings.signing_seal_key, kid, private)
    return await store.signing_keys.insert_signing_key(
        con, kid, settings.access_token_alg, public, sealed, activates_in
    )


async def ensure_key(pool: asyncpg.Pool, settings: IdentitySettings) -> StoredKey | None:
    """Make the first key (signing at once) when there is none, or a key of the configured
    algorithm, published ahead like a rotation, when none is current; None when nothing was
    needed. Replicas starting together serialise on the lock and make one."""
    async with pool.acquire() as con, con.transaction():
        await store.signing_keys.lock_signing_keys(con)
        stored = await store.signing_keys.signing_keys(con)
        rows = stored.keys
        if not rows:
            return await add_key(con, settings, AT_ONCE)
        current = rows[_signing_from(rows, stored.now) :]
        if any(row.alg == settings.access_token_alg for row in current):
            return None
        return await add_key(con, settings, publish_ahead(settings))


async def rotate(pool: asyncpg.Pool, settings: IdentitySettings) -> StoredKey:
    """Add the next signing key (`gatehouse keys rotate`). Refused when this secret does not
    open the current key: the service could not open the new one either."""
    async with pool.acquire() as con, con.transaction():
        await store.signing_keys.lock_signing_keys(con)
        stored = await store.signing_keys.signing_keys(con)
        _, unreadable = open_ring(stored, settings.signing_seal_key)
        if unreadable:
            raise SealedKeyError(unreadable[0])
        return await add_key(con, settings, publish_ahead(settings))


class SigningKeys:
    """Identity's signing keys while it runs: read at start, reread every reload interval."""

    def __init__(self, settings: IdentitySettings, pool: Callable[[], asyncpg.Pool]) -> None:
        self.settings = settings
        self._pool = pool
        self.ring = KeyRing()

    async def start(self) -> None:
        """Before consuming: the keys exist, and the one that signs opens with the secret."""
        pool = self._pool()
        await ensure_key(pool, self.settings)
        unreadable = await self.reload()
        if unreadable and self.settings.is_dev:
            log.warning(
                "the signing key does not open with this process's secret (dev mode): "
                "making a new one that signs at once"
            )
            async with pool.acquire() as con, con.transaction():
                await store.signing_keys.lock_signing_keys(con)
                await add_key(con, self.settings, AT_ONCE)
            unreadable = await self.reload()
        if unreadable:
            raise RuntimeError(
                f"GATEHOUSE_SIGNING_KEY_SECRET does not open signing key {unreadable[0]}: "
                "start with the secret that sealed it"
            )

    async def reload(self) -> list[str]:
        """Reread the keys (retiring those whose successor signs); returns the kids of keys
        that should sign but do not open, keeping those that do."""
        pool = self._pool()
        await store.signing_keys.schedule_retirements(pool, verify_for(self.settings))
        stored = await store.signing_keys.signing_keys(pool)
        ring, unreadable = open_ring(stored, self.settings.signing_seal_key)
        self.ring = ring
        return unreadable

    async def run(self) -> None:
        """Reread every `GATEHOUSE_SIGNING_KEY_RELOAD_S` while the service runs."""
        while True:
            await asyncio.sleep(self.settings.signing_key_reload_s)
            try:
                unreadable = await self.reload()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # The keys held keep signing and verifying; the next reload tries again.
                log.warning("could not reread the signing keys: %s", type(exc).__name__)
                continue
            for kid in unreadable:
                log.error(
                    "signing key %s does not open with GATEHOUSE_SIGNING_KEY_SECRET: "
                    "signing with an older key until it does",
                    kid,
                )
