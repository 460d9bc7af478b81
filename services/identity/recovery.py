"""Recovery codes: the way into an account whose authenticator app is lost. Pure: no broker,
no database.

`COUNT` codes are made when the first strong factor is confirmed (and by
`regenerate_recovery_codes`), shown once, and stored only as a keyed digest. Each code is 50
random bits (ten base32 characters, shown as two groups of five), so a fast keyed hash is
enough: nobody can try 2^50 guesses through `verify_mfa`, whose attempts are counted, and a
copy of the table without GATEHOUSE_TOTP_KEY (the key the digests derive from) is no list of
codes. A digest is bound to its user: one user's digest matches nothing of another's.
"""

import base64
import hashlib
import hmac
import os

COUNT = 10
_GROUP = 5
_LENGTH = 2 * _GROUP


def new_codes() -> list[str]:
    """`COUNT` fresh codes as shown to the user: `ABCDE-FGH23`."""
    return [_shown(base64.b32encode(os.urandom(_LENGTH)).decode()[:_LENGTH]) for _ in range(COUNT)]


def digest(key: bytes, user_id: int, code: str) -> bytes:
    """What is stored of `code` (as shown or as typed: case and dash do not matter)."""
    typed = code.replace("-", "").upper()
    return hmac.new(key, f"{user_id}\x00{typed}".encode(), hashlib.sha256).digest()


def _shown(raw: str) -> str:
    return f"{raw[:_GROUP]}-{raw[_GROUP:]}"
