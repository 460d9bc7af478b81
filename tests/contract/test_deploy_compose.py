"""deploy/compose.yaml against the Compose Specification, and the settings it uses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from contracts.topology import Topology
from services.ops import broker_roles
from services.ops.broker_users import read_password_file
from services.runtime import db_roles as roles

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"
INFRASTRUCTURE = ("rabbitmq", "postgres", "mailpit")
APPS = ("identity", "verification", "notifier")
# Every setting the services read (services/runtime settings); .env.example documents each.
SETTINGS = [
    "AMQP_URL",
    "DATABASE_URL",
    "NAMESPACE",
    "MODE",
    "CODE_HMAC_KEY",
    "HTTP_PORT",
    "LOG_LEVEL",
    "LOG_JSON",
    "LOG_MESSAGES",
    "RPC_TIMEOUT_S",
    "OTEL_ENABLED",
    "CODE_TTL_S",
    "CODE_MAX_ATTEMPTS",
    "CODE_RESEND_COOLDOWN_S",
    "CODE_HOURLY_CAP",
    "SMTP_URL",
    "MAIL_FROM",
    "SMS_URL",
    "SMS_ACCOUNT_SID",
    "SMS_AUTH_TOKEN",
    "SMS_FROM",
    "TEMPLATE_DIR",
    "DEV_MAILBOX_DIR",
    "AUTO_LOGIN",
    "MFA",
    "SESSION_TTL_S",
    "SESSION_ABSOLUTE_TTL_S",
]


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _documented() -> dict[str, str]:
    """Variable -> the comment just above it; `# GATEHOUSE_X=` lines count (optional, unset)."""
    documented: dict[str, str] = {}
    comment: list[str] = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"#?\s*(GATEHOUSE_[A-Z0-9_]+)=", line)
        if match:
            documented[match.group(1)] = " ".join(comment)
        elif line.startswith("#"):
            comment.append(line.lstrip("# "))
            continue
        comment = []
    return documented


def test_compose_file_follows_the_compose_specification() -> None:
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    errors = sorted(validator.iter_errors(_compose()), key=str)
    assert not errors, [f"{e.json_path}: {e.message}" for e in errors]


def test_compose_names_the_whole_stack() -> None:
    assert set(INFRASTRUCTURE + APPS + ("migrate",)) <= set(_compose()["services"])


@pytest.mark.parametrize("name", INFRASTRUCTURE + APPS)
def test_every_long_running_service_has_a_healthcheck(name: str) -> None:
    healthcheck = _compose()["services"][name]["healthcheck"]
    assert healthcheck["test"] and not healthcheck.get("disable")


@pytest.mark.parametrize("name", APPS)
def test_services_wait_for_healthy_dependencies_and_migrations(name: str) -> None:
    service = _compose()["services"][name]
    depends_on = service["depends_on"]
    assert depends_on["rabbitmq"]["condition"] == "service_healthy"
    assert depends_on["postgres"]["condition"] == "service_healthy"
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"
    assert service["command"] == ["faststream", "run", f"services.{name}.app:app"]


def test_notifier_waits_for_the_mail_sink() -> None:
    depends_on = _compose()["services"]["notifier"]["depends_on"]
    assert depends_on["mailpit"]["condition"] == "service_healthy"


def test_migrate_runs_once_after_the_database() -> None:
    migrate = _compose()["services"]["migrate"]
    assert migrate["command"] == ["gatehouse", "migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_infrastructure_has_its_healthchecks_and_volumes() -> None:
    services = _compose()["services"]
    assert "rabbitmq-diagnostics" in services["rabbitmq"]["healthcheck"]["test"]
    assert "management" in services["rabbitmq"]["image"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    assert "8025:8025" in services["mailpit"]["ports"]


def test_services_read_their_settings_from_the_env_example() -> None:
    for name in (*APPS, "migrate"):
        paths = [entry["path"] for entry in _compose()["services"][name]["env_file"]]
        assert (COMPOSE.parent / paths[0]).resolve() == ENV_EXAMPLE


def test_env_example_documents_every_setting_with_a_comment() -> None:
    documented = _documented()
    for setting in SETTINGS:
        assert documented.get(f"GATEHOUSE_{setting}"), f"GATEHOUSE_{setting} lacks a comment"


def test_every_setting_used_in_deploy_files_is_documented() -> None:
    used: set[str] = set()
    for path in [COMPOSE, *(ROOT / "deploy" / "k8s").rglob("*.yaml")]:
        used |= set(re.findall(r"\bGATEHOUSE_[A-Z0-9_]+", path.read_text()))
    assert used
    assert used <= set(_documented())


# --- secrets and database roles: each service only what it uses (issue 21) -------------------

SECRET_SETTINGS = {
    "GATEHOUSE_CODE_HMAC_KEY": {"verification"},
    "GATEHOUSE_REPLY_KEY": set(APPS),
    "GATEHOUSE_SIGNING_KEY_SECRET": {"identity"},
    "GATEHOUSE_TOTP_KEY": {"identity"},
    "GATEHOUSE_SMTP_URL": {"notifier"},
    "GATEHOUSE_SMS_AUTH_TOKEN": {"notifier"},
}


def _set_in_env_example() -> set[str]:
    return {
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.startswith("GATEHOUSE_")
    }


def test_the_shared_env_example_sets_no_secret_key():
    # Every service reads it: a key set there reaches the notifier too.
    assert not _set_in_env_example() & set(SECRET_SETTINGS)


@pytest.mark.parametrize("name", APPS)
def test_each_service_is_given_only_the_secrets_it_uses(name: str) -> None:
    service = _compose()["services"][name]
    paths = [entry["path"] for entry in service["env_file"]]
    assert paths == ["../.env.example", "../.env", f"../.env.{name}"]
    for variable in service.get("environment", {}):
        if variable in SECRET_SETTINGS:
            assert name in SECRET_SETTINGS[variable], f"{name} is given {variable}"


@pytest.mark.parametrize("name", APPS)
def test_each_service_signs_in_to_the_database_as_its_own_role(name: str) -> None:
    services = _compose()["services"]
    url = urlsplit(services[name]["environment"]["GATEHOUSE_DATABASE_URL"])
    assert url.username == roles.role_name(roles.DEFAULT_PREFIX, name)
    made = services["db-roles"]
    assert made["command"] == ["gatehouse", "db-roles"]
    assert made["environment"][f"GATEHOUSE_DB_PASSWORD_{name.upper()}"] == url.password
    assert services["migrate"]["depends_on"]["db-roles"]["condition"] == (
        "service_completed_successfully"
    )


def test_each_service_keeps_its_dev_keys_in_a_volume_of_its_own() -> None:
    compose = _compose()
    volumes = set()
    for name in APPS:
        service = compose["services"][name]
        key_dir = service["environment"]["GATEHOUSE_DEV_KEY_DIR"]
        (mount,) = service["volumes"]
        volume, path = mount.split(":")
        assert key_dir.startswith(path + "/") and volume in compose["volumes"]
        volumes.add(volume)
    assert len(volumes) == len(APPS)


@pytest.mark.parametrize("name", APPS)
def test_each_service_signs_in_to_the_broker_as_the_services_role(name: str) -> None:
    """Not guest: the services role may not publish operator commands, and what it may do is
    what production gives it (services.ops.broker_roles), created by the one-shot broker-users."""
    compose = _compose()
    url = urlsplit(compose["services"][name]["environment"]["GATEHOUSE_AMQP_URL"])
    services = broker_roles.roles(Topology())["services"]
    assert url.username == services.user()
    passwords = read_password_file((ROOT / "deploy" / "broker-passwords.dev").read_text())
    assert url.password == passwords["services"]
    waits = compose["services"][name]["depends_on"]["broker-users"]["condition"]
    assert waits == "service_completed_successfully"
