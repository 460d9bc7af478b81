"""Access tokens (`GATEHOUSE_ACCESS_TOKENS=jwt`): signed in the session gate, published keys.

A token is a JWS signed with the ring's current key (`services.identity.signing_keys`) by
joserfc, never by hand. Its claims are `AccessTokenClaims`: the public user and session ids,
the factors of the sign-in (`amr`), and nothing about the user unless the operator lists it
in `GATEHOUSE_ACCESS_TOKEN_CLAIMS`. Signing is CPU only, so the gate does it inside the flow's
transaction.
"""

import json
import secrets
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import SecurityWarning

from contracts.identity import v1
from services.identity.settings import IdentitySettings
from services.identity.signing_keys import SigningKeys
from services.identity.store.rows import User
from services.runtime.health import HttpResponse
from services.runtime.service import Service
from services.runtime.settings import narrow

TOKEN_TYPE = "at+jwt"  # RFC 9068: an access token, not an ID token passed off as one
JWKS_PATH = "/.well-known/jwks.json"
_JSON_FIELDS = {"app_metadata", "user_metadata"}


@contextmanager
def eddsa_by_its_deployed_name() -> Iterator[None]:
    """joserfc warns that RFC 9864 deprecates `EdDSA` for `Ed25519`; deployed verifiers know
    only `EdDSA`, so Gatehouse signs with it. Only that one warning is silenced."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "EdDSA is deprecated", SecurityWarning)
        yield


@dataclass(frozen=True)
class Minted:
    token: str
    expires_at: datetime


class AccessTokens:
    def __init__(self, service: Service) -> None:
        self.settings = settings = narrow(service.settings, IdentitySettings)
        self.enabled = settings.access_tokens == "jwt"
        self.keys = SigningKeys(settings, lambda: service.pool)
        audience = settings.access_token_audience
        self._audience: str | list[str] = audience[0] if len(audience) == 1 else list(audience)

    def wire(self, service: Service) -> None:
        """Keys ready before consuming, reread while running, the JWK Set over HTTP."""
        if not self.enabled:
            return
        service.on_start(self.keys.start)
        service.background(self.keys.run)
        service.serve_http(JWKS_PATH, self.jwks_http)

    def mint(self, user: User, session_id: str, factors: Iterable[str]) -> Minted:
        """An access token for a session: `sub` the user's public id, `sid` the session's."""
        moment = datetime.now(UTC)
        now = int(moment.timestamp())
        key = self.keys.ring.signer(moment)
        if key is None or key.private is None:
            raise RuntimeError("no signing key opens with GATEHOUSE_SIGNING_KEY_SECRET")
        exp = now + self.settings.access_token_ttl_s
        claims: dict[str, Any] = {
            "iss": self.settings.access_token_issuer,
            "aud": self._audience,
            "sub": user.public_id,
            "sid": session_id,
            "iat": now,
            "exp": exp,
            "amr": sorted(set(factors)),
            "jti": secrets.token_urlsafe(16),
        }
        for name in self.settings.access_token_claims:
            value = getattr(user, name)
            claims[name] = json.loads(value) if name in _JSON_FIELDS else value
        v1.AccessTokenClaims.model_validate(claims)  # the published shape, or a bug here
        header = {"typ": TOKEN_TYPE, "alg": key.alg, "kid": key.kid}
        with eddsa_by_its_deployed_name():
            token = jwt.encode(header, claims, key.private, algorithms=[key.alg])
        return Minted(token, datetime.fromtimestamp(exp, UTC))

    def jwks(self) -> v1.Jwks:
        """Every key that verifies, and the next one before it signs; empty while off."""
        now = datetime.now(UTC)
        return v1.Jwks(
            keys=[v1.Jwk.model_validate(key.public) for key in self.keys.ring.verifying(now)]
        )

    async def jwks_http(self) -> HttpResponse:
        # Cached no longer than a replica takes to reread the keys: a rotated key is
        # published twice that long before it signs (see signing_keys.publish_ahead).
        max_age = int(self.settings.signing_key_reload_s)
        return HttpResponse(
            "200 OK",
            "application/jwk-set+json",
            self.jwks().model_dump_json(exclude_none=True).encode(),
            (("Cache-Control", f"public, max-age={max_age}"),),
        )
