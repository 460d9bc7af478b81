"""Verify Gatehouse access tokens in your own service: no round trip per request.

    from gatehouse.access_tokens import AccessTokenError, AccessTokenVerifier, HttpJwks

    verifier = AccessTokenVerifier(
        HttpJwks("http://identity:8080/.well-known/jwks.json"), issuer="gatehouse", audience="api"
    )
    claims = await verifier.verify(token)  # AccessTokenClaims, or AccessTokenError(code=...)

The JWK Set comes from identity over HTTP (`HttpJwks`) or over the broker (`BrokerJwks`,
`identity.jwks.v1`); it is cached for `max_age_s` and kept when a refetch fails, so tokens
keep verifying while identity or the broker is down. A token whose `kid` is not in the cache
makes one refetch, at most once per `refetch_interval_s` (a rotated key is published well
before it signs, so this is rare; a flood of made-up kids costs one fetch per interval).

Checks, all by joserfc (never by hand): the algorithm against an allow-list bound to the
key's type (`EdDSA`/`Ed25519` for OKP keys, `ES256` for P-256 keys; never `none`, never HMAC:
a JWK Set holds no secret key, and keys of other types are never imported), the signature,
`typ` `at+jwt`, `exp`/`nbf`/`iat` with `leeway_s`, `iss`, and that `aud` names `audience`.
Every refusal is one `AccessTokenError` with a stable `code` (`AccessTokenErrorCode`).

A token stays valid until its `exp` even when its session is revoked: a service that must
refuse it sooner keeps a deny-list of the `sid`s in the `revoked_session_ids` of the
`user.logged_out`, `user.password_changed`, `user.password_reset` and `user.deregistered`
events, each kept for the token lifetime (docs/guides/access-tokens.md).

It needs the contracts, joserfc, httpx, and aio-pika for `BrokerJwks`; nothing that only a
Gatehouse service needs.
"""

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import (
    ClaimError,
    ExpiredTokenError,
    JoseError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import Key, import_key
from joserfc.jws import CompactSignature, JWSAlgModel
from pydantic import ValidationError

from contracts.identity.v1 import AccessTokenClaims
from gatehouse.jwks import BrokerJwks, HttpJwks, JwksSource

log = logging.getLogger("gatehouse.access_tokens")

__all__ = [
    "AccessTokenClaims",
    "AccessTokenError",
    "AccessTokenErrorCode",
    "AccessTokenVerifier",
    "BrokerJwks",
    "HttpJwks",
    "JwksSource",
]

TOKEN_TYPE = "at+jwt"
MAX_TOKEN_BYTES = 8192
# Identity publishes a rotated key this long (and more) before it signs with it, so a
# verifier that fetched just before the key was published may fetch again in time.
DEFAULT_REFETCH_INTERVAL_S = 30.0
# Algorithms each key type may verify. `Ed25519` is RFC 9864's name for what Gatehouse signs
# as `EdDSA` (the name deployed verifiers know); both are the same Ed25519 signature.
ALGORITHMS_BY_KEY = {
    ("OKP", "Ed25519"): frozenset({"EdDSA", "Ed25519"}),
    ("EC", "P-256"): frozenset({"ES256"}),
}
ALGORITHMS = frozenset().union(*ALGORITHMS_BY_KEY.values())


class _OneAlgorithm(jws.JWSRegistry):
    """The registry that checks one algorithm's tokens, built once at import instead of by
    joserfc at every call (a check changes nothing in it). It hands out the algorithm without
    joserfc's RFC 9864 warning about the name `EdDSA`, which Gatehouse signs with on purpose
    (see `ALGORITHMS_BY_KEY`): silencing that warning around each call cost more than a tenth
    of a verification."""

    def __init__(self, alg: str) -> None:
        super().__init__(algorithms=[alg])

    def get_alg(self, name: str) -> JWSAlgModel:
        if name not in (self.allowed or ()):
            raise UnsupportedAlgorithmError(f"Algorithm of '{name}' is not allowed")
        return self.algorithms[name]


_REGISTRIES = {alg: _OneAlgorithm(alg) for alg in ALGORITHMS}


class AccessTokenErrorCode(StrEnum):
    malformed = "token_malformed"
    algorithm_refused = "algorithm_refused"
    key_unknown = "key_unknown"
    signature_invalid = "signature_invalid"
    expired = "token_expired"
    not_yet_valid = "token_not_yet_valid"
    issuer_invalid = "issuer_invalid"
    audience_invalid = "audience_invalid"
    claims_invalid = "claims_invalid"
    jwks_unavailable = "jwks_unavailable"


class AccessTokenError(Exception):
    """The token is refused; `code` says why (never the token itself)."""

    def __init__(self, code: AccessTokenErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _TrustedKey:
    def __init__(self, key: Key, algorithms: frozenset[str]) -> None:
        self.key = key
        self.algorithms = algorithms


def _trusted(jwk: dict[str, Any]) -> tuple[str, _TrustedKey] | None:
    """A signing key of a type this verifier accepts, with the algorithms it may verify;
    None for anything else (an RSA or a symmetric key is never imported)."""
    kid, kty, crv = jwk.get("kid"), jwk.get("kty"), jwk.get("crv")
    # kty and crv come from untrusted JSON, of any type: a lookup that misses is just None.
    algorithms = ALGORITHMS_BY_KEY.get((kty, crv))  # type: ignore[arg-type]  # see above
    if not isinstance(kid, str) or algorithms is None or jwk.get("use", "sig") != "sig":
        return None
    if "alg" in jwk and jwk["alg"] not in algorithms:
        return None
    # The key's own `alg` is checked above; joserfc would bind it to one of the two names.
    public = {k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y", "kid")}
    try:
        return kid, _TrustedKey(import_key(public), algorithms)
    except (JoseError, ValueError, TypeError):
        return None


class AccessTokenVerifier:
    def __init__(
        self,
        jwks_source: JwksSource,
        issuer: str,
        audience: str | Iterable[str],
        *,
        leeway_s: int = 30,
        max_age_s: float = 300.0,
        refetch_interval_s: float = DEFAULT_REFETCH_INTERVAL_S,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`audience`: the audience this service is (a token must name one of them).
        `clock` tells token times, `monotonic` the key cache's age (tests pass their own)."""
        self._source = jwks_source
        self._issuer = issuer
        self._audience = [audience] if isinstance(audience, str) else list(audience)
        self._leeway = leeway_s
        self._max_age = max_age_s
        self._refetch_interval = refetch_interval_s
        self._clock = clock
        self._monotonic = monotonic
        self._keys: dict[str, _TrustedKey] = {}
        self._fetched_at: float | None = None  # monotonic, of the last fetch that worked
        self._tried_at: float | None = None  # monotonic, of the last attempt
        self._lock = asyncio.Lock()
        required: Any = {"essential": True}
        self._registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self._clock()),
            leeway=leeway_s,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "values": self._audience},
            sub=required,
            sid=required,
            exp=required,
        )

    async def verify(self, token: str) -> AccessTokenClaims:
        compact = _compact(token)
        header = compact.headers()
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise AccessTokenError(
                AccessTokenErrorCode.algorithm_refused, f"algorithm {alg!r} is not accepted"
            )
        if header.get("typ") != TOKEN_TYPE:
            raise AccessTokenError(AccessTokenErrorCode.malformed, "not an access token (typ)")
        if not isinstance(kid, str):
            raise AccessTokenError(AccessTokenErrorCode.key_unknown, "the token names no key")
        trusted = await self._key(kid)
        if alg not in trusted.algorithms:
            raise AccessTokenError(
                AccessTokenErrorCode.algorithm_refused,
                f"algorithm {alg!r} does not go with key {kid}",
            )
        try:
            verified = jws.validate_compact(compact, trusted.key, registry=_REGISTRIES[alg])
        except JoseError as exc:
            raise AccessTokenError(AccessTokenErrorCode.malformed, exc.error) from None
        if not verified:
            raise AccessTokenError(
                AccessTokenErrorCode.signature_invalid, "the signature does not verify"
            )
        try:
            claims = json.loads(compact.payload)
        except ValueError:
            raise AccessTokenError(AccessTokenErrorCode.malformed, "claims are not JSON") from None
        if not isinstance(claims, dict):
            raise AccessTokenError(AccessTokenErrorCode.malformed, "claims are not an object")
        return self._claims(claims)

    def _claims(self, claims: dict[str, Any]) -> AccessTokenClaims:
        try:
            self._registry.validate(claims)
        except ExpiredTokenError:
            raise AccessTokenError(AccessTokenErrorCode.expired, "the token has expired") from None
        except ClaimError as exc:
            raise AccessTokenError(_CLAIM_CODES.get(exc.claim, _INVALID), exc.error) from None
        try:
            return AccessTokenClaims.model_validate(claims)
        except ValidationError as exc:
            fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
            raise AccessTokenError(_INVALID, f"claims of the wrong shape: {fields}") from None

    async def _key(self, kid: str) -> _TrustedKey:
        now = self._monotonic()
        stale = self._fetched_at is None or now - self._fetched_at >= self._max_age
        if stale or kid not in self._keys:
            await self._refetch()
        trusted = self._keys.get(kid)
        if trusted is not None:
            return trusted
        if self._fetched_at is None:
            raise AccessTokenError(
                AccessTokenErrorCode.jwks_unavailable, "the JWK Set could not be fetched"
            )
        raise AccessTokenError(AccessTokenErrorCode.key_unknown, f"no key {kid} in the JWK Set")

    async def _refetch(self) -> None:
        """Fetch the JWK Set, at most once per `refetch_interval_s` whatever asks for it: an
        unknown kid, a stale cache, or a source that keeps failing."""
        async with self._lock:
            now = self._monotonic()
            if self._tried_at is not None and now - self._tried_at < self._refetch_interval:
                return
            self._tried_at = now
            try:
                keys = await self._source.fetch()
            except Exception as exc:  # a source is any transport: keep the keys we have
                log.warning("could not fetch the JWK Set: %s", type(exc).__name__)
                return
            found = (_trusted(jwk) for jwk in keys if isinstance(jwk, dict))
            self._keys = dict(entry for entry in found if entry is not None)
            self._fetched_at = self._monotonic()


_INVALID = AccessTokenErrorCode.claims_invalid
_CLAIM_CODES = {
    "iss": AccessTokenErrorCode.issuer_invalid,
    "aud": AccessTokenErrorCode.audience_invalid,
    "nbf": AccessTokenErrorCode.not_yet_valid,
    "iat": AccessTokenErrorCode.not_yet_valid,
}


def _compact(token: str) -> CompactSignature:
    """The token split and decoded, nothing verified yet."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
        raise AccessTokenError(AccessTokenErrorCode.malformed, "not a compact JWS")
    try:
        compact = jws.extract_compact(token.encode())
        header = compact.headers()
    except (JoseError, ValueError, UnicodeError):
        raise AccessTokenError(AccessTokenErrorCode.malformed, "not a compact JWS") from None
    if not isinstance(header, dict) or compact.payload is None:
        raise AccessTokenError(AccessTokenErrorCode.malformed, "not a compact JWS")
    return compact
