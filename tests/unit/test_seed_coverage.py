"""tests/SEEDS.md lists every seed rule with the tests that cover it: each test it names must
exist, each rule must name one (or say why none can), and each test of test_seed_paths.py,
whose only reason to exist is a seed rule, must be listed."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "tests" / "SEEDS.md"
SEED_PATHS = ROOT / "tests" / "integration" / "test_seed_paths.py"
TEST = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
# A row with no test says why: a rule no server can hold, or one whose coverage lines come with
# the seed 004 reset work (issue 28, points 1 to 5).
EXCUSES = ("n/a",)


def rows() -> list[tuple[str, str]]:
    """(rule, covered by) of every table row."""
    found = []
    for line in SEEDS.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 2 or set(cells[1]) <= set("-"):
            continue
        if cells == ["rule", "covered by"]:
            continue
        found.append((cells[0], cells[1]))
    return found


def functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def test_there_are_rules_for_every_seed():
    text = SEEDS.read_text()
    for heading in ("## Seeds 000 and 001", "## Seed 002", "## Seed 003", "## Seed 004"):
        assert heading in text
    assert len(rows()) > 80


def test_every_test_named_exists():
    missing = []
    cache: dict[str, set[str]] = {}
    for path, name in TEST.findall(SEEDS.read_text()):
        file = ROOT / path
        if not file.is_file():
            missing.append(f"{path} (no such file)")
            continue
        if name not in cache.setdefault(path, functions(file)):
            missing.append(f"{path}::{name}")
    assert not missing, f"tests/SEEDS.md names tests that do not exist: {missing}"


def test_every_rule_names_a_test_or_says_why_not():
    bare = [
        rule
        for rule, covered in rows()
        if not TEST.search(covered) and not covered.startswith(EXCUSES)
    ]
    assert not bare, f"rules without a test: {bare}"


def test_every_seed_path_test_is_listed():
    listed = {
        name for path, name in TEST.findall(SEEDS.read_text()) if path.endswith(SEED_PATHS.name)
    }
    defined = {name for name in functions(SEED_PATHS) if name.startswith("test_")}
    assert defined <= listed, f"not in tests/SEEDS.md: {sorted(defined - listed)}"
