"""docs/configuration.md is generated from the settings classes and kept current."""

import re
from pathlib import Path

import pytest
from pydantic import Field

from services.cli import config_reference
from services.cli.db_roles import password_variable
from services.cli.main import main
from services.runtime import db_roles
from services.runtime.settings import Settings


def test_the_committed_configuration_page_is_current():
    assert config_reference.check(), (
        "docs/configuration.md is stale: run `gatehouse config-reference`"
    )


def test_every_setting_of_every_service_has_its_row():
    page = config_reference.render()
    for cls, _, _ in config_reference.SECTIONS:
        for name in cls.model_fields:
            assert f"| `GATEHOUSE_{name.upper()}`" in page, name


def test_a_setting_without_a_description_stops_the_page(monkeypatch):
    class Undocumented(Settings):
        silent: int = Field(1)

    monkeypatch.setattr(
        config_reference, "SECTIONS", (*config_reference.SECTIONS, (Undocumented, "x", "y"))
    )
    with pytest.raises(ValueError, match=r"Undocumented\.silent has no description"):
        config_reference.render()


def test_the_cli_checks_the_page():
    with pytest.raises(SystemExit) as exited:
        main(["config-reference", "--check"])
    assert exited.value.code == 0


def test_every_variable_deploy_sets_is_a_setting_a_service_reads():
    root = Path(__file__).resolve().parents[2]
    page = config_reference.render()
    # `gatehouse db-roles` reads these itself; no service does.
    cli_only = {password_variable(s) for s in db_roles.SERVICES}
    sources = [root / ".env.example", *sorted((root / "deploy").rglob("*.yaml"))]
    for path in sources:
        for variable in set(re.findall(r"GATEHOUSE_[A-Z0-9_]+", path.read_text())) - cli_only:
            assert f"`{variable}`" in page, f"{path.name}: {variable} is no setting"
