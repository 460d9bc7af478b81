"""House rules that keep the layers apart, checked on the source itself."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IO_LIBRARIES = {"faststream", "aio_pika", "aiormq", "asyncpg", "httpx", "aiosmtplib"}
SERVICES = [p for p in (ROOT / "services").iterdir() if (p / "app.py").exists()]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def domain_files() -> list[Path]:
    files = []
    for service in SERVICES:
        files += list(service.glob("domain.py")) + list(service.glob("domain/*.py"))
    return files


@pytest.mark.parametrize("path", domain_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_code_does_no_io(path):
    roots = {name.split(".")[0] for name in imported_modules(path)}
    assert not roots & IO_LIBRARIES


@pytest.mark.parametrize("path", sorted((ROOT / "contracts").rglob("*.py")), ids=str)
def test_contracts_never_import_services(path):
    assert not any(name.split(".")[0] == "services" for name in imported_modules(path))


@pytest.mark.parametrize("service", SERVICES, ids=lambda p: p.name)
def test_a_service_never_imports_another_service(service):
    others = {f"services.{p.name}" for p in SERVICES if p != service}
    for path in service.rglob("*.py"):
        for name in imported_modules(path):
            assert not any(name == o or name.startswith(o + ".") for o in others), (path, name)


def test_only_the_session_gate_opens_sessions():
    # DESIGN: every path that issues a session goes through one gate. A new sign-in path
    # that writes a session (or a remember token, or an mfa challenge) itself is a bug.
    services = Path(__file__).resolve().parents[2] / "services"
    openers = (
        "store.create_session(",
        "store.create_remember_token(",
        "store.create_mfa_challenge(",
    )
    offenders = [
        str(path.relative_to(services))
        for path in services.rglob("*.py")
        if path.name != "gate.py" and any(o in path.read_text() for o in openers)
    ]
    assert offenders == []
