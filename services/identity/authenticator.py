"""Authenticator apps (TOTP, RFC 6238): the secret, its `otpauth://` URI, sealing it at rest,
and which time step a code belongs to. Pure: no broker, no database.

A code is checked against the time steps one either side of now (`VALID_WINDOW`, ±30 s of clock
drift between the phone and the server); the step it matched is returned so that the store can
accept each step once (`store.totp.accept_step`): a code seen once is refused inside its window.
The secret is sealed with AES-256-GCM under `IdentitySettings.totp_seal_key` and bound to its
user, so a sealed secret copied to another user's row opens nothing.
"""

import hmac
import os

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VALID_WINDOW = 1  # steps either side: RFC 6238 section 5.2 allows for "one time step" of drift


class SealedSecretError(Exception):
    """GATEHOUSE_TOTP_KEY does not open this secret (another key sealed it)."""


def new_secret() -> str:
    """160 random bits, base32: the length RFC 4226 recommends for HMAC-SHA1."""
    return pyotp.random_base32(32)


def otpauth_uri(secret: str, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def matched_step(secret: str, code: str, at: float) -> int | None:
    """The time step within `VALID_WINDOW` of `at` (Unix time) whose code is `code`, or None."""
    totp = pyotp.TOTP(secret)
    now = int(at) // totp.interval
    for step in range(now - VALID_WINDOW, now + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def seal(key: bytes, user_id: int, secret: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, secret.encode(), _bound_to(user_id))


def unseal(key: bytes, user_id: int, sealed: bytes) -> str:
    try:
        return AESGCM(key).decrypt(sealed[:12], sealed[12:], _bound_to(user_id)).decode()
    except InvalidTag:
        raise SealedSecretError(user_id) from None


def _bound_to(user_id: int) -> bytes:
    return b"gatehouse totp secret\x00" + str(user_id).encode()
