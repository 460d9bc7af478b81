"""Signing keys (issue 15): one first key however many replicas start together, a private half
that nothing opens without its secret, and a rotation that no token outruns. Each test has a
database of its own: the key set is the identity schema's, shared by everything that uses it."""

import asyncio
import base64
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from contracts.identity import v1
from gatehouse.access_tokens import AccessTokenError, AccessTokenVerifier, BrokerJwks
from services.identity import signing_keys
from services.identity.app import build as build_identity
from services.identity.tokens import JWKS_PATH
from services.ops.system import SystemSettings
from services.runtime import db
from services.runtime.db import one
from services.runtime.service import Service
from tests.identity_support import ACCESS_TOKENS, env_settings, identity_env, own_database
from tests.support import eventually, running

ISSUER = ACCESS_TOKENS["access_token_issuer"]


def kid_of(token: str) -> str:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"]


def jwks_kids(result: dict) -> set[str]:
    return {key["kid"] for key in result["keys"]}


async def served_kids(service: Service) -> set[str]:
    """The kids a replica publishes at `/.well-known/jwks.json`."""
    return jwks_kids(json.loads((await service.http_routes[JWKS_PATH]()).body))


@pytest.fixture
async def database(infrastructure):
    async with own_database(infrastructure) as url:
        yield url


def token_settings(make_settings, database: str, **overrides) -> SystemSettings:
    return env_settings(make_settings, database_url=database, **{**ACCESS_TOKENS, **overrides})


async def test_replicas_starting_together_make_one_key(make_settings, database):
    settings = token_settings(make_settings, database)
    replicas = [build_identity(settings) for _ in range(3)]
    try:
        await asyncio.gather(*(replica.start() for replica in replicas))
        rows = await replicas[0].pool.fetch("SELECT kid FROM signing_keys")
        assert len(rows) == 1
    finally:
        await asyncio.gather(*(replica.stop() for replica in replicas))


async def test_es256_signs_when_asked_for_and_listed_claims_are_added(make_settings, database):
    settings = token_settings(
        make_settings,
        database,
        access_token_alg="ES256",
        access_token_claims=["email", "email_verified", "app_metadata"],
    )
    async with identity_env(settings, with_verification=False) as env:
        result = await env.register(email="ada@example.com")
        token = result["access_token"]
        assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["alg"] == "ES256"
        (key,) = (await _ok(env, v1.jwks, {}))["keys"]
        assert (key["kty"], key["crv"], key["alg"]) == ("EC", "P-256", "ES256")
        verifier = AccessTokenVerifier(BrokerJwks(env.rpc), ISSUER, "orders")
        claims = await verifier.verify(token)
        assert (claims.email, claims.email_verified, claims.app_metadata) == (
            "ada@example.com",
            False,
            {},
        )
        assert claims.phone is None and claims.username is None


async def test_another_algorithm_at_the_next_start_is_a_rotation(make_settings, database):
    async with identity_env(token_settings(make_settings, database), with_verification=False):
        pass
    settings = token_settings(make_settings, database, access_token_alg="ES256")
    async with identity_env(settings, with_verification=False) as env:
        keys = (await _ok(env, v1.jwks, {}))["keys"]
        assert [key["alg"] for key in keys] == ["EdDSA", "ES256"]
        # Published now, signing only once every replica and verifier can have it.
        assert kid_of((await env.register())["access_token"]) == keys[0]["kid"]
        activates_at = await env.identity.pool.fetchval(
            "SELECT activates_at FROM signing_keys WHERE kid = $1", keys[1]["kid"]
        )
        assert activates_at > datetime.now(UTC) + signing_keys.VERIFIER_REFETCH


async def test_a_private_key_opens_only_with_the_secret_that_sealed_it(make_settings, database):
    settings = token_settings(make_settings, database)
    async with identity_env(settings, with_verification=False) as env:
        row = one(await env.identity.pool.fetchrow("SELECT * FROM signing_keys"))
    private = signing_keys.unseal(
        settings.signing_seal_key, row["kid"], bytes(row["private_sealed"])
    ).as_dict(private=True)
    d = str(private["d"])
    sealed = bytes(row["private_sealed"])
    assert d.encode() not in sealed
    assert base64.urlsafe_b64decode(d + "==") not in sealed
    assert "d" not in json.loads(row["public_jwk"])

    other = token_settings(
        make_settings, database, signing_key_secret="another-signing-secret-0123456789abcdef"
    )
    with pytest.raises(signing_keys.SealedKeyError):
        signing_keys.unseal(other.signing_seal_key, row["kid"], sealed)
    identity = build_identity(other)
    with pytest.raises(RuntimeError, match="GATEHOUSE_SIGNING_KEY_SECRET does not open") as err:
        await identity.start()
    assert d not in str(err.value)
    await identity.stop()
    # `gatehouse keys rotate` with the wrong secret adds nothing the service could not open.
    pool = await db.create_pool(database, "identity", namespace="test", max_size=1)
    try:
        with pytest.raises(signing_keys.SealedKeyError):
            await signing_keys.rotate(pool, other)
        assert await pool.fetchval("SELECT count(*) FROM signing_keys") == 1
    finally:
        await pool.close()


async def test_a_rotated_key_is_published_before_it_signs_and_the_old_one_retires_after_its_last_token_expires(  # noqa: E501
    make_settings, database, monkeypatch
):
    monkeypatch.setattr(signing_keys, "RETIRE_LEEWAY", timedelta(seconds=1))
    monkeypatch.setattr(signing_keys, "VERIFIER_REFETCH", timedelta(0))
    settings = token_settings(
        make_settings, database, access_token_ttl_s=2, signing_key_reload_s=0.25
    )
    async with identity_env(settings, with_verification=False) as env:
        # A second replica: neither is restarted, and tokens and JWK Sets come from both.
        replica = build_identity(settings)
        async with running(replica):
            old = await env.register()
            old_kid = kid_of(old["access_token"])
            assert jwks_kids(await _ok(env, v1.jwks, {})) == {old_kid}

            # `gatehouse keys rotate` (tests/e2e runs the command itself).
            new_kid = (await signing_keys.rotate(env.identity.pool, settings)).kid
            published_at = signed_at = None
            while signed_at is None:
                served = [await served_kids(service) for service in (env.identity, replica)]
                if published_at is None and all(new_kid in kids for kids in served):
                    published_at = time.monotonic()
                token = (await env.register())["access_token"]
                if kid_of(token) == new_kid:
                    assert published_at is not None, "signed before every replica published it"
                    signed_at = time.monotonic()
                else:
                    assert kid_of(token) == old_kid
                await asyncio.sleep(0.02)
            new = await env.register()
            assert kid_of(new["access_token"]) == new_kid

            # The old key's tokens verify until they expire; a fresh verifier finds its key.
            verifier = AccessTokenVerifier(BrokerJwks(env.rpc), ISSUER, "orders", leeway_s=0)
            assert (await verifier.verify(old["access_token"])).sub == old["user"]["id"]
            assert (await verifier.verify(new["access_token"])).sub == new["user"]["id"]

            # Retired after the last token it signed expired (+ leeway), then purged.
            async def retired() -> bool:
                return old_kid not in jwks_kids(await _ok(env, v1.jwks, {}))

            await eventually(retired, timeout_s=10)
            row = one(
                await env.identity.pool.fetchrow(
                    "SELECT retires_at FROM signing_keys WHERE kid = $1", old_kid
                )
            )
            assert row["retires_at"] <= datetime.now(UTC)
            await env.identity.purge_retained()
            assert (
                await env.identity.pool.fetchval(
                    "SELECT count(*) FROM signing_keys WHERE kid = $1", old_kid
                )
                == 0
            )
            with pytest.raises(AccessTokenError) as refused:
                await verifier.verify(old["access_token"])
            assert refused.value.code == "token_expired"
            back_then = AccessTokenVerifier(
                BrokerJwks(env.rpc),
                ISSUER,
                "orders",
                clock=lambda: (
                    datetime.fromisoformat(old["access_token_expires_at"]).timestamp() - 1
                ),
            )
            with pytest.raises(AccessTokenError) as unknown:
                await back_then.verify(old["access_token"])
            assert unknown.value.code == "key_unknown"
            assert (await verifier.verify((await env.register())["access_token"])).sub


async def _ok(env, command, body: dict) -> dict:
    reply = await env.call(command, body)
    assert reply["ok"], reply
    return reply["result"]
