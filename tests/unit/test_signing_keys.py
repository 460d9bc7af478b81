"""Signing keys without a database: sealing, which key signs when, and the setting that seals."""

import logging
from datetime import UTC, datetime, timedelta

import pytest

from services.identity import signing_keys
from services.identity.signing_keys import KeyRing, SealedKeyError, SigningKey
from services.ops.system import SystemSettings

SECRET = "a-signing-key-secret-for-unit-tests-0123456789"


def seal_key(secret: str = SECRET) -> bytes:
    return SystemSettings(mode="prod", signing_key_secret=secret).signing_seal_key


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_a_sealed_key_opens_with_its_secret_and_kid_only(alg):
    kid, public, private = signing_keys.generate(alg)
    sealed = signing_keys.seal(seal_key(), kid, private)
    d = str(private.as_dict(private=True)["d"])
    assert d.encode() not in sealed and "d" not in public
    assert public["kid"] == kid and public["alg"] == alg and public["use"] == "sig"
    assert signing_keys.unseal(seal_key(), kid, sealed).as_dict(private=True)["d"] == d
    with pytest.raises(SealedKeyError):
        signing_keys.unseal(seal_key("another secret, long enough for prod mode"), kid, sealed)
    other_kid, _, _ = signing_keys.generate(alg)
    with pytest.raises(SealedKeyError):  # a sealed key cannot be passed off as another
        signing_keys.unseal(seal_key(), other_kid, sealed)


def key(kid: str, activates: timedelta, retires: timedelta | None = None) -> SigningKey:
    now = datetime.now(UTC)
    _, public, private = signing_keys.generate("EdDSA")
    retires_at = now + retires if retires is not None else None
    return SigningKey(kid, "EdDSA", public, now + activates, retires_at, private)


def test_the_newest_active_key_signs_and_every_unretired_key_is_published():
    ring = KeyRing(
        [
            key("next", timedelta(minutes=2)),
            key("current", timedelta(minutes=-1)),
            key("old", timedelta(hours=-1), retires=timedelta(minutes=5)),
            key("retired", timedelta(hours=-2), retires=timedelta(minutes=-1)),
        ]
    )
    now = datetime.now(UTC)
    signer = ring.signer(now)
    assert signer is not None and signer.kid == "current"
    assert [k.kid for k in ring.verifying(now)] == ["old", "current", "next"]
    later = ring.signer(now + timedelta(minutes=3))
    assert later is not None and later.kid == "next"


def test_a_rotated_key_signs_after_replicas_caches_and_verifiers_all_have_it():
    settings = SystemSettings(signing_key_reload_s=60)
    assert signing_keys.publish_ahead(settings) == timedelta(seconds=2 * 60 + 30)
    ttl = timedelta(seconds=300)
    assert (
        signing_keys.verify_for(SystemSettings(access_token_ttl_s=300))
        == ttl + signing_keys.RETIRE_LEEWAY
    )


def test_prod_mode_needs_the_signing_key_secret():
    with pytest.raises(ValueError, match="GATEHOUSE_SIGNING_KEY_SECRET is required"):
        _ = SystemSettings(mode="prod", access_tokens="jwt").signing_seal_key


def test_dev_mode_keeps_a_sealing_key_of_its_own_and_says_so(caplog, tmp_path):
    caplog.set_level(logging.WARNING)
    dev = SystemSettings(mode="dev", code_hmac_key="dev-key", dev_key_dir=str(tmp_path))
    again = SystemSettings(mode="dev", dev_key_dir=str(tmp_path))
    assert dev.signing_seal_key == again.signing_seal_key
    assert (tmp_path / "signing-key-secret").exists()
    assert "GATEHOUSE_SIGNING_KEY_SECRET is not set" in caplog.text


def test_the_sealing_key_is_derived_for_its_purpose_alone():
    settings = SystemSettings(
        mode="dev", signing_key_secret=SECRET, code_hmac_key=SECRET, reply_key=SECRET
    )
    records = settings.record_keys("identity")
    unrelated = {settings.signing_seal_key, settings.code_key, records.request_mac}
    assert len(unrelated | {records.reply_seal}) == 4
