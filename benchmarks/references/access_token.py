"""Access-token verification by hand with `cryptography`: ours is
`gatehouse.access_tokens.AccessTokenVerifier` (joserfc).

Guarantees ours keeps, and where this one keeps them:
- at most 8192 bytes, three dot-separated base64url parts, a JSON object header: `_split`;
- `crit` headers refused (joserfc knows none of the ones a token might name): `_split`;
- `alg` from an allow-list bound to the key's type (EdDSA/Ed25519 for OKP Ed25519, ES256 for
  EC P-256), never `none` or HMAC; keys of any other type never imported: `_import`, `verify`;
- `typ` is `at+jwt`, `kid` names a key: `verify`;
- the JWK Set cached for `max_age_s`, one refetch per `refetch_interval_s` at most (unknown
  kid, stale cache, failing source), kept when a refetch fails: `_key`, `_refetch`;
- the signature (raw r||s for ES256, as JWS encodes it): `_check_signature`;
- claims a JSON object; `iss` equal; `aud` (a string or a list) naming one of the audiences;
  `sub`, `sid`, `exp` present; `exp`, `nbf`, `iat` NumericDates checked with `leeway_s`:
  `_claims`;
- the claims' shape as `AccessTokenClaims` declares it (types of the required and optional
  claims, `amr` values): `_claims`, by hand rather than through a pydantic model;
- one error type with ours's stable codes (`Refused.code`), never the token in a message.

Shortcut ours cannot take: it returns the claims as a checked dict, not a frozen model.
"""

import asyncio
import base64
import binascii
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

MAX_TOKEN_BYTES = 8192
ALGORITHMS_BY_KEY = {("OKP", "Ed25519"): {"EdDSA", "Ed25519"}, ("EC", "P-256"): {"ES256"}}
ALGORITHMS = {"EdDSA", "Ed25519", "ES256"}
AMR = {"pwd", "otp", "mfa", "reset"}
OPTIONAL = {
    "username": str,
    "email": str,
    "email_verified": bool,
    "phone": str,
    "phone_verified": bool,
    "app_metadata": dict,
    "user_metadata": dict,
}
PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _split(token: str) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    """Header, signing input, payload and signature of a compact JWS; nothing verified."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
        raise Refused("token_malformed", "not a compact JWS")
    head, body, sig = token.split(".")
    try:
        header = json.loads(_b64(head))
        payload, signature = _b64(body), _b64(sig)
    except (ValueError, binascii.Error):
        raise Refused("token_malformed", "not a compact JWS") from None
    if not isinstance(header, dict) or "crit" in header:
        raise Refused("token_malformed", "not a compact JWS")
    return header, f"{head}.{body}".encode(), payload, signature


def _import(jwk: dict[str, Any]) -> tuple[str, PublicKey, set[str]] | None:
    algorithms = ALGORITHMS_BY_KEY.get((jwk.get("kty"), jwk.get("crv")))  # type: ignore[arg-type]
    kid = jwk.get("kid")
    if not isinstance(kid, str) or algorithms is None or jwk.get("use", "sig") != "sig":
        return None
    if "alg" in jwk and jwk["alg"] not in algorithms:
        return None
    try:
        if jwk["kty"] == "OKP":
            return kid, Ed25519PublicKey.from_public_bytes(_b64(jwk["x"])), algorithms
        x, y = int.from_bytes(_b64(jwk["x"]), "big"), int.from_bytes(_b64(jwk["y"]), "big")
        return kid, ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key(), algorithms
    except (KeyError, ValueError, TypeError, binascii.Error):
        return None


def _check_signature(key: PublicKey, signing_input: bytes, signature: bytes) -> bool:
    try:
        if isinstance(key, Ed25519PublicKey):
            key.verify(signature, signing_input)
        else:
            if len(signature) != 64:
                return False
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Verifier:
    def __init__(
        self,
        fetch: Callable[[], Awaitable[list[dict[str, Any]]]],
        issuer: str,
        audience: str | Iterable[str],
        *,
        leeway_s: int = 30,
        max_age_s: float = 300.0,
        refetch_interval_s: float = 30.0,
    ) -> None:
        self._fetch = fetch
        self._issuer = issuer
        self._audience = {audience} if isinstance(audience, str) else set(audience)
        self._leeway = leeway_s
        self._max_age = max_age_s
        self._refetch_interval = refetch_interval_s
        self._keys: dict[str, tuple[PublicKey, set[str]]] = {}
        self._fetched_at: float | None = None
        self._tried_at: float | None = None
        self._lock = asyncio.Lock()

    async def verify(self, token: str) -> dict[str, Any]:
        header, signing_input, payload, signature = _split(token)
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise Refused("algorithm_refused", "algorithm not accepted")
        if header.get("typ") != "at+jwt":
            raise Refused("token_malformed", "not an access token (typ)")
        if not isinstance(kid, str):
            raise Refused("key_unknown", "the token names no key")
        key, algorithms = await self._key(kid)
        if alg not in algorithms:
            raise Refused("algorithm_refused", "algorithm does not go with the key")
        if not _check_signature(key, signing_input, signature):
            raise Refused("signature_invalid", "the signature does not verify")
        try:
            claims = json.loads(payload)
        except ValueError:
            raise Refused("token_malformed", "claims are not JSON") from None
        if not isinstance(claims, dict):
            raise Refused("token_malformed", "claims are not an object")
        return self._claims(claims)

    def _claims(self, claims: dict[str, Any]) -> dict[str, Any]:
        now = int(time.time())
        for name in ("iss", "aud", "sub", "sid", "exp"):
            if name not in claims:
                raise Refused("claims_invalid", f"missing claim {name}")
        if claims["iss"] != self._issuer:
            raise Refused("issuer_invalid", "iss")
        aud = claims["aud"]
        named = aud if isinstance(aud, list) else [aud]
        if not any(isinstance(a, str) and a in self._audience for a in named):
            raise Refused("audience_invalid", "aud")
        for name in ("exp", "nbf", "iat"):
            if name in claims and not _numeric(claims[name]):
                raise Refused("claims_invalid", f"{name} is not a NumericDate")
        if claims["exp"] < now - self._leeway:
            raise Refused("token_expired", "the token has expired")
        for name in ("nbf", "iat"):
            if name in claims and claims[name] > now + self._leeway:
                raise Refused("token_not_yet_valid", name)
        # The shape AccessTokenClaims declares (required: iat, exp ints; amr; jti).
        shaped = (
            isinstance(claims["sub"], str)
            and isinstance(claims["sid"], str)
            and isinstance(claims.get("jti"), str)
            and isinstance(claims.get("iat"), int)
            and isinstance(claims["exp"], int)
            and (isinstance(aud, str) or all(isinstance(a, str) for a in aud))
            and isinstance(claims.get("amr"), list)
            and all(isinstance(m, str) and m in AMR for m in claims["amr"])
            and all(
                claims.get(name) is None or isinstance(claims[name], kind)
                for name, kind in OPTIONAL.items()
            )
        )
        if not shaped:
            raise Refused("claims_invalid", "claims of the wrong shape")
        return claims

    async def _key(self, kid: str) -> tuple[PublicKey, set[str]]:
        now = time.monotonic()
        if (
            self._fetched_at is None
            or now - self._fetched_at >= self._max_age
            or (kid not in self._keys)
        ):
            await self._refetch()
        found = self._keys.get(kid)
        if found is not None:
            return found
        if self._fetched_at is None:
            raise Refused("jwks_unavailable", "the JWK Set could not be fetched")
        raise Refused("key_unknown", "no such key in the JWK Set")

    async def _refetch(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._tried_at is not None and now - self._tried_at < self._refetch_interval:
                return
            self._tried_at = now
            try:
                jwks = await self._fetch()
            except Exception:  # keep the keys we have
                return
            imported = (_import(jwk) for jwk in jwks if isinstance(jwk, dict))
            self._keys = {kid: (key, algs) for kid, key, algs in filter(None, imported)}
            self._fetched_at = time.monotonic()
