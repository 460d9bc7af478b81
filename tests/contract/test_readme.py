"""README.md opens with the two commands, CI runs the second, and every setting is documented."""

import re
from pathlib import Path

from services.ops.system import SystemSettings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _opening_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert block and README.index("```bash") < README.index("\n## "), "README must open with them"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_exactly_two_commands():
    up, tests = _opening_commands()
    assert "gatehouse up" in up
    assert "pytest" in tests


def test_ci_runs_the_readme_test_command():
    _, tests = _opening_commands()
    test_command = tests.split("&&")[-1].strip()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in [line.strip() for line in ci]


def test_every_setting_is_documented():
    for name in SystemSettings.model_fields:
        assert f"`GATEHOUSE_{name.upper()}`" in README, f"GATEHOUSE_{name.upper()} is undocumented"
