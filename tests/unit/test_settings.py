"""Settings read from the environment, old names included."""

import logging

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
