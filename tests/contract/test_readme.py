"""README.md is one screen of orientation: it opens with the two commands, CI runs the second,
it stays short, and every file it links to exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
# What Gatehouse is, the two commands, a five-minute tour and a map of the docs; the rest is
# in docs/.
MAX_LINES = 250


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


def test_readme_stays_one_screen_of_orientation():
    assert len(README.splitlines()) < MAX_LINES


def test_every_file_the_readme_links_to_exists():
    # The site's own links are checked by `mkdocs build --strict` in .ci/run; README is not
    # part of the site.
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    assert targets
    missing = [t for t in targets if "://" not in t and not (ROOT / t).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"
