"""Settings read from the environment, old names included."""

import logging
import re
import secrets
import stat
from pathlib import Path

import pytest

from services.runtime import keys
from services.runtime.settings import Settings


def test_the_dev_mailbox_directory_is_read_from_its_variable(monkeypatch):
    monkeypatch.setenv("GATEHOUSE_DEV_MAILBOX_DIR", "/srv/mail")
    assert Settings().dev_mailbox_dir == "/srv/mail"


def test_the_old_outbox_dir_name_still_works_with_a_warning(monkeypatch, caplog):
    monkeypatch.delenv("GATEHOUSE_DEV_MAILBOX_DIR", raising=False)
    monkeypatch.setenv("GATEHOUSE_OUTBOX_DIR", "/srv/old")
    with caplog.at_level(logging.WARNING, "gatehouse.settings"):
        settings = Settings()
    assert settings.dev_mailbox_dir == "/srv/old"
    assert "GATEHOUSE_OUTBOX_DIR is deprecated" in caplog.text
    assert "GATEHOUSE_DEV_MAILBOX_DIR" in caplog.text


def test_the_new_name_wins_over_the_old_one(monkeypatch):
    monkeypatch.setenv("GATEHOUSE_OUTBOX_DIR", "/srv/old")
    monkeypatch.setenv("GATEHOUSE_DEV_MAILBOX_DIR", "/srv/new")
    assert Settings().dev_mailbox_dir == "/srv/new"


def test_code_sets_the_directory_by_its_field_name(monkeypatch):
    monkeypatch.delenv("GATEHOUSE_DEV_MAILBOX_DIR", raising=False)
    assert Settings(dev_mailbox_dir="/tmp/x").dev_mailbox_dir == "/tmp/x"


def test_admin_users_come_from_the_setting_and_dev_mode_adds_guest():
    assert Settings(mode="prod", admin_users=["ops-alice"]).admitted_admins == {"ops-alice"}
    assert Settings(mode="prod").admitted_admins == frozenset()
    assert Settings(mode="dev", admin_users=["ops-alice"]).admitted_admins == {"ops-alice", "guest"}


# Secrets: one job each (issue 21, point 6) ----------------------------------------------------

SECRET_FIELDS = {
    "GATEHOUSE_CODE_HMAC_KEY": "code_hmac_key",
    "GATEHOUSE_REPLY_KEY": "reply_key",
    "GATEHOUSE_SIGNING_KEY_SECRET": "signing_key_secret",
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
        Settings.model_validate({"mode": "prod", SECRET_FIELDS[variable]: GOOD[:31]})


@pytest.mark.parametrize("variable", sorted(SECRET_FIELDS))
def test_prod_refuses_a_secret_without_randomness(variable):
    with pytest.raises(ValueError, match=f"{variable} does not look random"):
        Settings.model_validate({"mode": "prod", SECRET_FIELDS[variable]: "ab" * 32})


@pytest.mark.parametrize("variable", sorted(SECRET_FIELDS))
def test_prod_refuses_every_published_example_value(variable):
    examples = published_examples() | keys.PUBLISHED
    assert "dev-only-change-me-0123456789abcdef" in examples
    for value in examples:
        with pytest.raises(ValueError, match=variable):
            Settings.model_validate({"mode": "prod", SECRET_FIELDS[variable]: value})


def test_prod_refuses_one_secret_doing_two_jobs():
    with pytest.raises(ValueError, match="GATEHOUSE_REPLY_KEY equals GATEHOUSE_CODE_HMAC_KEY"):
        Settings(mode="prod", code_hmac_key=GOOD, reply_key=GOOD)


def test_prod_takes_32_random_bytes_and_dev_takes_anything():
    settings = Settings(mode="prod", code_hmac_key=GOOD, reply_key=secrets.token_hex(32))
    assert settings.code_key == GOOD.encode()
    assert Settings(mode="dev", code_hmac_key="short").code_key == b"short"


@pytest.mark.parametrize("prop", ["code_key", "signing_seal_key"])
def test_prod_requires_the_secret_a_service_uses(prop):
    with pytest.raises(ValueError, match="is required when GATEHOUSE_MODE=prod"):
        getattr(Settings(mode="prod"), prop)
    with pytest.raises(ValueError, match="GATEHOUSE_REPLY_KEY is required"):
        Settings(mode="prod").record_keys("notifier")


def test_dev_makes_each_key_once_and_keeps_it_private(tmp_path):
    first = Settings(mode="dev", dev_key_dir=str(tmp_path / "keys"))
    again = Settings(mode="dev", dev_key_dir=str(tmp_path / "keys"))
    assert first.code_key == again.code_key and len(first.code_key) >= 32
    assert first.record_keys("identity") == again.record_keys("identity")
    for name in ("code-hmac-key", "reply-key"):
        assert stat.S_IMODE((tmp_path / "keys" / name).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700


def test_each_service_records_under_keys_of_its_own():
    settings = Settings(mode="prod", reply_key=GOOD)
    ids = {settings.record_keys(s).key_id for s in ("identity", "verification", "notifier")}
    seals = {settings.record_keys(s).reply_seal for s in ("identity", "verification", "notifier")}
    assert len(ids) == len(seals) == 3
