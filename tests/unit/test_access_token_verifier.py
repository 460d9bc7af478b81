"""AccessTokenVerifier without a broker: keys made here, a JWK Set handed over by a fake source.

What the verifier accepts (EdDSA and its RFC 9864 name Ed25519 on OKP keys, ES256 on P-256
keys) and refuses, each with its stable code; how often it fetches the JWK Set."""

import asyncio
import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import ECKey, Key, OctKey, OKPKey

from gatehouse.access_tokens import AccessTokenError, AccessTokenVerifier

ISSUER, AUDIENCE = "https://id.example.test", "orders"


class FakeJwks:
    def __init__(self, *keys: Key, fails: bool = False) -> None:
        self.keys = list(keys)
        self.fetches = 0
        self.fails = fails

    async def fetch(self) -> list[dict[str, Any]]:
        self.fetches += 1
        if self.fails:
            raise ConnectionError("identity is down")
        return [public(key) for key in self.keys]


def public(key: Key) -> dict[str, Any]:
    alg = "ES256" if key.key_type == "EC" else "EdDSA"
    return {**key.as_dict(private=False), "kid": key.kid, "alg": alg, "use": "sig"}


def okp(kid: str = "ed-1") -> OKPKey:
    return OKPKey.generate_key("Ed25519", parameters={"kid": kid})


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    values = {
        "iss": ISSUER,
        "aud": [AUDIENCE, "billing"],
        "sub": "u_8Zk3fQ2b9xW1",
        "sid": "s_41QaZ0x8Lm2p",
        "iat": now,
        "exp": now + 300,
        "amr": ["pwd"],
        "jti": "Qx3v8mZo2l0yq3Qw",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def sign(key: Key, alg: str = "EdDSA", typ: str = "at+jwt", **overrides: Any) -> str:
    header = {"typ": typ, "alg": alg, "kid": overrides.pop("kid", key.kid)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        return jwt.encode(header, claims(**overrides), key, algorithms=[alg])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def verifier(source: FakeJwks, **kwargs: Any) -> AccessTokenVerifier:
    return AccessTokenVerifier(source, ISSUER, AUDIENCE, **kwargs)


async def refusal(check: AccessTokenVerifier, token: str) -> str:
    with pytest.raises(AccessTokenError) as caught:
        await check.verify(token)
    return caught.value.code


async def test_it_accepts_eddsa_under_both_names_and_es256():
    ed, ec = okp(), ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
    check = verifier(FakeJwks(ed, ec))
    assert (await check.verify(sign(ed))).sub == "u_8Zk3fQ2b9xW1"
    ed25519 = OKPKey.import_key(ed.as_dict(private=True))  # no `alg` bound to the key
    assert (await check.verify(sign(ed25519, "Ed25519", kid=ed.kid))).amr == ["pwd"]
    assert (await check.verify(sign(ec, "ES256"))).sid == "s_41QaZ0x8Lm2p"


async def test_alg_none_and_hmac_keyed_with_the_public_key_are_refused():
    key = okp()
    check = verifier(FakeJwks(key))
    _, payload, _ = sign(key).split(".")
    none = b64(json.dumps({"typ": "at+jwt", "alg": "none", "kid": key.kid}).encode())
    assert await refusal(check, f"{none}.{payload}.") == "algorithm_refused"
    for alg, digest in (("HS256", hashlib.sha256), ("HS512", hashlib.sha512)):
        head = b64(json.dumps({"typ": "at+jwt", "alg": alg, "kid": key.kid}).encode())
        secret = json.dumps(public(key)).encode()
        mac = hmac.new(secret, f"{head}.{payload}".encode(), digest).digest()
        assert await refusal(check, f"{head}.{payload}.{b64(mac)}") == "algorithm_refused"


async def test_a_symmetric_key_in_the_jwk_set_is_never_trusted():
    secret = OctKey.generate_key(256, parameters={"kid": "oct-1"})

    class SetWithASecret:
        async def fetch(self) -> list[dict[str, Any]]:
            return [{**secret.as_dict(private=True), "alg": "HS256"}]

    header = {"typ": "at+jwt", "alg": "HS256", "kid": "oct-1"}
    forged = jwt.encode(header, claims(), secret, algorithms=["HS256"])
    check = AccessTokenVerifier(SetWithASecret(), ISSUER, AUDIENCE)
    assert await refusal(check, forged) == "algorithm_refused"


async def test_an_algorithm_that_does_not_go_with_the_key_is_refused():
    ed = okp()
    ec = ECKey.generate_key("P-256", parameters={"kid": str(ed.kid)})
    assert await refusal(verifier(FakeJwks(ed)), sign(ec, "ES256")) == "algorithm_refused"


async def test_unknown_keys_bad_signatures_and_claims_each_have_their_code():
    key, stranger = okp(), okp("stranger")
    check = verifier(FakeJwks(key))
    cases = {
        sign(stranger): "key_unknown",
        sign(stranger, kid=key.kid): "signature_invalid",
        sign(key, exp=int(time.time()) - 31): "token_expired",
        sign(key, nbf=int(time.time()) + 60): "token_not_yet_valid",
        sign(key, aud="payroll"): "audience_invalid",
        sign(key, iss="https://evil.test"): "issuer_invalid",
        sign(key, sid=None): "claims_invalid",
        sign(key, amr="pwd"): "claims_invalid",
        sign(key, typ="JWT"): "token_malformed",
        "not.a-token": "token_malformed",
        "a" * 9000: "token_malformed",
        "": "token_malformed",
    }
    for token, code in cases.items():
        assert await refusal(check, token) == code, code


async def test_the_leeway_covers_small_clock_skew():
    key = okp()
    just_expired = sign(key, exp=int(time.time()) - 10)
    assert (await verifier(FakeJwks(key), leeway_s=30).verify(just_expired)).sub
    assert await refusal(verifier(FakeJwks(key), leeway_s=0), just_expired) == "token_expired"


class Clock:
    """A monotonic clock the test moves: the key cache's intervals pass without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_unknown_kids_refetch_the_set_at_most_once_per_interval():
    key, rotated = okp("old"), okp("new")
    source = FakeJwks(key)
    clock = Clock()
    check = verifier(source, refetch_interval_s=30, monotonic=clock)
    assert await check.verify(sign(key))
    assert source.fetches == 1
    flood = [sign(okp(f"made-up-{n}")) for n in range(20)]
    codes = await asyncio.gather(*(refusal(check, token) for token in flood))
    assert set(codes) == {"key_unknown"} and source.fetches == 1
    clock.now += 29
    assert await refusal(check, sign(okp("made-up-late"))) == "key_unknown"
    assert source.fetches == 1
    clock.now += 1
    source.keys.append(rotated)
    assert (await check.verify(sign(rotated))).sub
    assert source.fetches == 2
    assert await check.verify(sign(key))
    assert source.fetches == 2


async def test_cached_keys_keep_verifying_while_the_source_is_down():
    key = okp()
    source = FakeJwks(key)
    clock = Clock()
    check = verifier(source, max_age_s=300, refetch_interval_s=30, monotonic=clock)
    assert await check.verify(sign(key))
    source.fails = True
    clock.now += 300
    assert (await check.verify(sign(key))).sub
    assert source.fetches == 2
    never = verifier(FakeJwks(key, fails=True))
    assert await refusal(never, sign(key)) == "jwks_unavailable"


def test_the_verifier_needs_nothing_only_a_service_has():
    probe = (
        "import sys, gatehouse.access_tokens; "
        "print(sorted(m for m in ('asyncpg', 'faststream', 'services.identity') "
        "if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=root
    ).stdout
    assert out.strip() == "[]"
