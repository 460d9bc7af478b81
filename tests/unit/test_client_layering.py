"""What gatehouse-client ships imports only what it declares: every module of `gatehouse` and
`contracts` imports those two packages, the standard library, and the distributions
client/pyproject.toml lists (extras included), never `services` nor a library only the
services need. Imports inside functions count: a worker reaches them at run time."""

import ast
import sys
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("gatehouse", "contracts")
SERVICE_ONLY = {"services", "asyncpg", "jinja2", "aiosmtplib", "argon2", "passlib", "bcrypt"}


def declared_distributions() -> set[str]:
    project = tomllib.loads((ROOT / "client/pyproject.toml").read_text())["project"]
    lines = [*project["dependencies"]]
    lines += [line for extra in project["optional-dependencies"].values() for line in extra]
    return {canonicalize_name(Requirement(line).name) for line in lines}


@cache
def allowed_imports() -> frozenset[str]:
    """Top-level import names: the shipped packages, the standard library, and each name an
    installed distribution the client declares provides."""
    declared = declared_distributions()
    provided = {
        top
        for top, distributions in metadata.packages_distributions().items()
        if any(canonicalize_name(d) in declared for d in distributions)
    }
    return frozenset({*SHIPPED, *sys.stdlib_module_names, *provided})


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level name) of every absolute import in `path`; a relative one stays inside
    its package, which is a shipped one."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


SHIPPED_MODULES = sorted(path for package in SHIPPED for path in (ROOT / package).rglob("*.py"))


def test_every_library_the_client_declares_is_installed_here():
    # The check is only as good as the installed metadata: each declared distribution must
    # be installed here for its import names to be known.
    missing = [d for d in declared_distributions() if not _installed(d)]
    assert not missing, f"install the client's dependencies to run this check: {missing}"


def _installed(distribution: str) -> bool:
    try:
        metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.parametrize("path", SHIPPED_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_shipped_module_imports_only_what_the_client_declares(path: Path):
    allowed = allowed_imports() - SERVICE_ONLY
    strays = [f"line {line}: {name}" for line, name in imports(path) if name not in allowed]
    assert not strays, strays


def test_the_check_refuses_a_service_module_and_an_undeclared_library(tmp_path: Path):
    module = tmp_path / "sample.py"
    module.write_text(
        "import json\n"
        "from pydantic import BaseModel\n"
        "def later():\n"
        "    from services.runtime import db\n"
        "    import asyncpg\n"
        "    import yaml\n"
    )
    allowed = allowed_imports() - SERVICE_ONLY
    refused = [name for _, name in imports(module) if name not in allowed]
    assert refused == ["services", "asyncpg", "yaml"]
