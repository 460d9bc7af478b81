"""Settings read from the environment, old names included."""

import logging
import re
import secrets
import stat
from pathlib import Path

import pytest

from services.identity.hashing import argon2id
from services.identity.settings import IdentitySettings
from services.notifier.settings import NotifierSettings
from services.ops.system import SystemSettings
from services.runtime import keys
from services.runtime.settings import Settings, narrow
from services.verification.settings import VerificationSettings


def test_the_dev_mailbox_directory_is_read_from_its_variable(monkeypatch):
    monkeypatch.setenv("GATEHOUSE_DEV_MAILBOX_DIR", "/srv/mail")
    assert SystemSettings().dev_mailbox_dir == "/srv/mail"


def test_the_old_outbox_dir_name_still_works_with_a_warning(monkeypatch, caplog):
    monkeypatch.delenv("GATEHOUSE_DEV_MAILBOX_DIR", raising=False)
    monkeypatch.setenv("GATEHOUSE_OUTBOX_DIR", "/srv/old")
    with caplog.at_level(logging.WARNING, "gatehouse.settings"):
        settings = SystemSettings()
    assert settings.dev_mailbox_dir == "/srv/old"
    assert "GATEHOUSE_OUTBOX_DIR is deprecated" in caplog.text
    assert "GATEHOUSE_DEV_MAILBOX_DIR" in caplog.text


def test_the_new_name_wins_over_the_old_one(monkeypatch):
    monkeypatch.setenv("GATEHOUSE_OUTBOX_DIR", "/srv/old")
    monkeypatch.setenv("GATEHOUSE_DEV_MAILBOX_DIR", "/srv/new")
    assert SystemSettings().dev_mailbox_dir == "/srv/new"


def test_code_sets_the_directory_by_its_field_name(monkeypatch):
    monkeypatch.delenv("GATEHOUSE_DEV_MAILBOX_DIR", raising=False)
    assert SystemSettings(dev_mailbox_dir="/tmp/x").dev_mailbox_dir == "/tmp/x"


def test_admin_users_come_from_the_setting_and_dev_mode_adds_guest():
    assert SystemSettings(mode="prod", admin_users=["ops-alice"]).admitted_admins == {"ops-alice"}
    assert SystemSettings(mode="prod").admitted_admins == frozenset()
    assert SystemSettings(mode="dev", admin_users=["ops-alice"]).admitted_admins == {
        "ops-alice",
        "guest",
    }


# Secrets: one job each (issue 21, point 6) ----------------------------------------------------

SECRET_FIELDS = {
    "GATEHOUSE_CODE_HMAC_KEY": "code_hmac_key",
    "GATEHOUSE_REPLY_KEY": "reply_key",
    "GATEHOUSE_SIGNING_KEY_SECRET": "signing_key_secret",
    "GATEHOUSE_TOTP_KEY": "totp_key",
}
GOOD = secrets.token_urlsafe(32)


def published_examples() -> set[str]:
    """Every value a secret variable is given in .env.example, the READMEs and the docs."""
    root = Path(__file__).resolve().parents[2]
    names = "|".join(SECRET_FIELDS)
    found: set[str] = set()
    docs = sorted((root / "docs").rglob("*.md"))
    for path in (root / ".env.example", root / "README.md", root / "deploy" / "README.md", *docs):
        for value in re.findall(rf"(?:{names})=[\"']?([^\s\"'`]+)", path.read_text()):
            if not value.startswith("$"):
                found.add(value)
    return found


@pytest.mark.parametrize("variable", sorted(SECRET_FIELDS))
def test_prod_refuses_a_secret_shorter_than_32_bytes_naming_it(variable):
    with pytest.raises(ValueError, match=f"{variable} is shorter than 32 bytes"):
        SystemSettings.model_validate({"mode": "prod", SECRET_FIELDS[variable]: GOOD[:31]})


@pytest.mark.parametrize("variable", sorted(SECRET_FIELDS))
def test_prod_refuses_a_secret_without_randomness(variable):
    with pytest.raises(ValueError, match=f"{variable} does not look random"):
        SystemSettings.model_validate({"mode": "prod", SECRET_FIELDS[variable]: "ab" * 32})


@pytest.mark.parametrize("variable", sorted(SECRET_FIELDS))
def test_prod_refuses_every_published_example_value(variable):
    examples = published_examples() | keys.PUBLISHED
    assert "dev-only-change-me-0123456789abcdef" in examples
    for value in examples:
        with pytest.raises(ValueError, match=variable):
            SystemSettings.model_validate({"mode": "prod", SECRET_FIELDS[variable]: value})


def test_prod_refuses_one_secret_doing_two_jobs():
    with pytest.raises(ValueError, match="GATEHOUSE_CODE_HMAC_KEY equals GATEHOUSE_REPLY_KEY"):
        SystemSettings(mode="prod", code_hmac_key=GOOD, reply_key=GOOD)


def test_prod_takes_32_random_bytes_and_dev_takes_anything():
    settings = SystemSettings(mode="prod", code_hmac_key=GOOD, reply_key=secrets.token_hex(32))
    assert settings.code_key == GOOD.encode()
    assert SystemSettings(mode="dev", code_hmac_key="short").code_key == b"short"


@pytest.mark.parametrize("prop", ["code_key", "signing_seal_key"])
def test_prod_requires_the_secret_a_service_uses(prop):
    with pytest.raises(ValueError, match="is required when GATEHOUSE_MODE=prod"):
        getattr(SystemSettings(mode="prod"), prop)
    with pytest.raises(ValueError, match="GATEHOUSE_REPLY_KEY is required"):
        SystemSettings(mode="prod").record_keys("notifier")


def test_dev_makes_each_key_once_and_keeps_it_private(tmp_path):
    first = SystemSettings(mode="dev", dev_key_dir=str(tmp_path / "keys"))
    again = SystemSettings(mode="dev", dev_key_dir=str(tmp_path / "keys"))
    assert first.code_key == again.code_key and len(first.code_key) >= 32
    assert first.record_keys("identity") == again.record_keys("identity")
    for name in ("code-hmac-key", "reply-key"):
        assert stat.S_IMODE((tmp_path / "keys" / name).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700


def test_each_service_records_under_keys_of_its_own():
    settings = SystemSettings(mode="prod", reply_key=GOOD)
    ids = {settings.record_keys(s).key_id for s in ("identity", "verification", "notifier")}
    seals = {settings.record_keys(s).reply_seal for s in ("identity", "verification", "notifier")}
    assert len(ids) == len(seals) == 3


# One class per service, composed by the CLI (issue 23, point 5) -------------------------------

SERVICE_CLASSES = (IdentitySettings, VerificationSettings, NotifierSettings)


def test_each_service_declares_its_own_fields_and_the_system_has_them_all():
    common = set(Settings.model_fields)
    own = [set(kind.model_fields) - common for kind in SERVICE_CLASSES]
    assert all(own), "every service has settings of its own"
    assert not (own[0] & own[1]) and not (own[0] & own[2]) and not (own[1] & own[2])
    assert set(SystemSettings.model_fields) == common.union(*own)


def test_a_service_holds_only_its_own_secrets(monkeypatch):
    # Another service's secret, even a weak one, is not a service's to check: it starts.
    monkeypatch.setenv("GATEHOUSE_CODE_HMAC_KEY", "short")
    assert "GATEHOUSE_CODE_HMAC_KEY" not in IdentitySettings(mode="prod").given_secrets()
    NotifierSettings(mode="prod")
    with pytest.raises(ValueError, match="GATEHOUSE_CODE_HMAC_KEY is shorter"):
        VerificationSettings(mode="prod")
    monkeypatch.delenv("GATEHOUSE_CODE_HMAC_KEY")
    monkeypatch.setenv("GATEHOUSE_SIGNING_KEY_SECRET", "short")
    VerificationSettings(mode="prod")
    NotifierSettings(mode="prod")
    with pytest.raises(ValueError, match="GATEHOUSE_SIGNING_KEY_SECRET is shorter"):
        IdentitySettings(mode="prod")


def test_the_composed_settings_refuse_one_secret_doing_two_services_jobs():
    with pytest.raises(ValueError, match="GATEHOUSE_SIGNING_KEY_SECRET equals"):
        SystemSettings(mode="prod", code_hmac_key=GOOD, signing_key_secret=GOOD)


def test_identity_keys_known_clients_with_its_own_reply_key():
    settings = IdentitySettings(mode="prod", reply_key=GOOD)
    assert (
        settings.login_client_key
        != IdentitySettings(mode="prod", reply_key=GOOD[::-1]).login_client_key
    )
    with pytest.raises(ValueError, match="GATEHOUSE_REPLY_KEY is required"):
        _ = IdentitySettings(mode="prod").login_client_key


def test_a_service_built_with_another_services_settings_says_so():
    with pytest.raises(TypeError, match="not IdentitySettings"):
        narrow(VerificationSettings(mode="dev"), IdentitySettings)


def test_passwords_hash_at_owasps_argon2id_baseline_by_default():
    settings = IdentitySettings(mode="prod")
    assert (settings.password_hash_memory_kib, settings.password_hash_iterations) == (19456, 2)
    assert argon2id().hash("x").startswith("$argon2id$v=19$m=19456,t=2,p=1$")


@pytest.mark.parametrize(
    "costs", [{"password_hash_memory_kib": 19455}, {"password_hash_iterations": 1}]
)
def test_prod_refuses_password_hashing_below_the_baseline_unless_told(costs):
    with pytest.raises(ValueError, match="below OWASP's baseline"):
        IdentitySettings(mode="prod", **costs)
    assert IdentitySettings(mode="prod", password_hash_below_baseline=True, **costs)
    assert IdentitySettings(mode="dev", **costs)
    assert IdentitySettings(mode="prod", password_hash_memory_kib=47104, password_hash_iterations=3)
