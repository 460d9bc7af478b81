"""The documentation site in docs/ documents every setting, names only files that exist and
tells no project history (`mkdocs build --strict` in .ci/run checks links, anchors and pages
left out of the nav)."""

import re
from pathlib import Path

import pytest

from services.runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
# What a reader needs is how Gatehouse behaves now; how it came to be is in git history.
HISTORY = re.compile(
    r"\bissues? \d+|\ba previous session\b|\bused to\b|\bwedged\b|\bbefore (?:issue|this change)\b",
    re.I,
)
# A file or folder of the repository, as the pages name them: `services/identity/gate.py`.
REPO_PATH = re.compile(
    r"`((?:contracts|services|gatehouse|tests|deploy|benchmarks|reliability|client|docs)/[\w./-]*)`"
)


def test_every_setting_is_documented():
    page = (DOCS / "configuration.md").read_text()
    for name in Settings.model_fields:
        assert f"`GATEHOUSE_{name.upper()}`" in page, f"GATEHOUSE_{name.upper()} is undocumented"


@pytest.mark.parametrize("page", [*PAGES, ROOT / "README.md"], ids=lambda p: p.name)
def test_no_page_tells_project_history(page: Path):
    found = [m.group(0) for m in HISTORY.finditer(page.read_text())]
    assert not found, f"{page.relative_to(ROOT)} tells history: {found}"


# The contract reference names CloudEvent sources (`gatehouse/identity`), not files.
WRITTEN = [p for p in PAGES if p.name != "reference.md"]


@pytest.mark.parametrize("page", [*WRITTEN, ROOT / "README.md"], ids=lambda p: p.name)
def test_every_file_a_page_names_exists(page: Path):
    missing = [p for p in REPO_PATH.findall(page.read_text()) if not (ROOT / p).exists()]
    assert not missing, f"{page.relative_to(ROOT)} names files that do not exist: {missing}"
