"""Server keys: one job each, given only to the service that does it.

- `GATEHOUSE_CODE_HMAC_KEY`: the HMAC under which verification codes are stored.
  Verification only.
- `GATEHOUSE_REPLY_KEY`: MACs of requests and sealing of recorded replies (per message id and
  per idempotency key); identity also derives from it the key its known sign-in clients are
  stored under. Every service, each its own value.
- `GATEHOUSE_SIGNING_KEY_SECRET`: seals the private halves of access token signing keys.
  Identity only.
- `GATEHOUSE_TOTP_KEY`: seals the secrets of users' authenticator apps (TOTP). Identity only.

Separate variables rather than one root per service: each is rotated for its own reasons and
at its own cost (a new code key voids the codes of the last ten minutes, a new reply key makes
at most a day of recorded replies unreadable, a new signing secret needs every signing key
resealed), and a deployment can see at a glance that the notifier holds no code key. Within
the reply key, HKDF with a label per service and per purpose keeps the MAC key apart from the
sealing key, and one service's records apart from another's when `gatehouse up` runs all
three with one value.

Production refuses a secret shorter than `MIN_SECRET_BYTES`, made of a handful of characters,
or equal to a value this repository ever published (`PUBLISHED`), naming the variable. Dev
mode makes each missing key once and keeps it in a file (mode 0600) under
`GATEHOUSE_DEV_KEY_DIR`, so a restart keeps codes checkable and recorded replies readable.
"""

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = logging.getLogger("gatehouse.settings")

# 32 random bytes: what `secrets.token_urlsafe(32)` (43 characters) or `token_hex(32)` carry.
MIN_SECRET_BYTES = 32
# A secret of fewer distinct characters is a pattern, not random bytes (hex has 16).
MIN_DISTINCT = 10
GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
# Every secret value this repository has shown as an example (.env.example, READMEs, docs): anyone
# may have copied one, so production refuses them whatever their length.
PUBLISHED = frozenset({"dev-only-change-me-0123456789abcdef"})


def check(variable: str, value: str) -> None:
    """Raise ValueError naming `variable` when `value` is not fit to be a production secret."""
    if value in PUBLISHED:
        raise ValueError(
            f"{variable} is an example value published with Gatehouse; generate one: {GENERATE}"
        )
    if len(value.encode()) < MIN_SECRET_BYTES:
        raise ValueError(
            f"{variable} is shorter than {MIN_SECRET_BYTES} bytes; generate one: {GENERATE}"
        )
    if len(set(value)) < MIN_DISTINCT:
        raise ValueError(f"{variable} does not look random; generate one: {GENERATE}")


def dev_key(directory: str, name: str, variable: str) -> bytes:
    """Dev mode's stand-in for an unset `variable`: 32 random bytes made once and kept in
    `<directory>/<name>` (mode 0600), so that a restart finds the same key."""
    path = Path(directory) / name
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        # Written aside, then linked into place: two processes starting at once both end up
        # with the one key that won the link, never with a half-written file.
        spare = path.with_name(f".{name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_urlsafe(MIN_SECRET_BYTES).encode())
        finally:
            os.close(fd)
        try:
            os.link(spare, path)
            log.warning("%s is not set: made a dev key, kept in %s", variable, path)
        except FileExistsError:
            pass
        finally:
            spare.unlink()
    else:
        log.warning("%s is not set: using the dev key kept in %s", variable, path)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return path.read_bytes().strip()


def derive(secret: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
        secret
    )


@dataclass(frozen=True)
class RecordKeys:
    """What one service keys its recorded replies with (`services.runtime.recorded_replies`, and the
    idempotency keys of `services.runtime.idempotency`)."""

    request_mac: bytes  # HMAC key over a request: a reused id with another body is refused
    reply_seal: bytes  # AES-256-GCM key sealing the stored replies
    # Stored with every record: a record made under another key is told apart from a record
    # of another request, and answered as unreadable rather than as a reused id.
    key_id: bytes


def record_keys(root: bytes, service: str) -> RecordKeys:
    request_mac = derive(root, f"gatehouse {service} request mac v2")
    return RecordKeys(
        request_mac=request_mac,
        reply_seal=derive(root, f"gatehouse {service} reply seal v2"),
        key_id=hmac.new(request_mac, b"gatehouse key id", hashlib.sha256).digest()[:8],
    )
