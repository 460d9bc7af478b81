"""TOTP rules (services/identity/authenticator.py): which time step a code belongs to, and a
secret sealed to its user."""

import logging
import secrets

import pyotp
import pytest

from services.identity import authenticator
from services.ops.system import SystemSettings

KEY = b"k" * 32
NOW = 1_900_000_020.0  # mid-step
STEP = 30


@pytest.fixture
def secret() -> str:
    return authenticator.new_secret()


@pytest.mark.parametrize("steps", [-1, 0, 1])
def test_a_code_one_step_either_side_matches_its_own_step(secret, steps):
    code = pyotp.TOTP(secret).at(NOW + steps * STEP)
    assert authenticator.matched_step(secret, code, NOW) == int(NOW) // STEP + steps


@pytest.mark.parametrize("steps", [-3, -2, 2, 3])
def test_a_code_further_away_matches_nothing(secret, steps):
    code = pyotp.TOTP(secret).at(NOW + steps * STEP)
    near = {pyotp.TOTP(secret).at(NOW + s * STEP) for s in (-1, 0, 1)}
    if code not in near:  # one in a million: the same digits as a code inside the window
        assert authenticator.matched_step(secret, code, NOW) is None


def test_the_secret_has_160_bits(secret):
    assert len(pyotp.TOTP(secret).byte_secret()) == 20


def test_the_uri_names_issuer_and_account(secret):
    uri = authenticator.otpauth_uri(secret, "ada@example.com", "Acme Corp")
    assert uri == f"otpauth://totp/Acme%20Corp:ada%40example.com?secret={secret}&issuer=Acme%20Corp"


def test_a_sealed_secret_opens_only_for_its_user_and_key(secret):
    sealed = authenticator.seal(KEY, 7, secret)
    assert secret.encode() not in sealed
    assert authenticator.unseal(KEY, 7, sealed) == secret
    with pytest.raises(authenticator.SealedSecretError):
        authenticator.unseal(KEY, 8, sealed)
    with pytest.raises(authenticator.SealedSecretError):
        authenticator.unseal(b"x" * 32, 7, sealed)


def test_prod_mode_needs_the_totp_key():
    with pytest.raises(ValueError, match="GATEHOUSE_TOTP_KEY is required"):
        _ = SystemSettings(mode="prod").totp_seal_key


def test_dev_mode_keeps_a_totp_key_of_its_own_and_says_so(caplog, tmp_path):
    caplog.set_level(logging.WARNING)
    dev = SystemSettings(mode="dev", dev_key_dir=str(tmp_path))
    again = SystemSettings(mode="dev", dev_key_dir=str(tmp_path))
    assert dev.totp_seal_key == again.totp_seal_key
    assert (tmp_path / "totp-key").exists()
    assert "GATEHOUSE_TOTP_KEY is not set" in caplog.text


def test_the_totp_key_is_derived_for_its_purpose_alone():
    same = secrets.token_urlsafe(32)
    settings = SystemSettings(mode="dev", totp_key=same, signing_key_secret=same)
    assert settings.totp_seal_key != settings.signing_seal_key
