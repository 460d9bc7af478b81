"""House rules that keep the layers apart, checked on the source itself.

The one no-I/O check lives here: a pure module (the contracts, every service's domain, and
the few rule modules named in PURE) imports no broker, database or network library, and
every project module it imports is pure too, so I/O cannot come in through a helper.
"""

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IO_LIBRARIES = {
    "faststream",
    "aio_pika",
    "aiormq",
    "pamqp",
    "asyncpg",
    "httpx",
    "aiosmtplib",
    "smtplib",
    "socket",
    "ssl",
    "urllib.request",
    "http.client",
    "subprocess",
}
SERVICES = sorted(p for p in (ROOT / "services").iterdir() if (p / "app.py").exists())
# Rules several services apply alike (services/shared/__init__.py): pure, and no service's.
SHARED = ROOT / "services" / "shared"
# Rule modules outside a service's domain that promise no I/O.
PURE = (
    "services.identity.hook_effects",
    "services.identity.reset_destinations",
    "services.identity.standing",
    "services.identity.throttling",
    "services.notifier.notices",
    "gatehouse.errors",
    "gatehouse._recipients",
)


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_path(name: str, root: Path = ROOT) -> Path | None:
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


@cache
def imported_modules(path: Path, root: Path = ROOT) -> frozenset[str]:
    """Every module `path` imports, dotted names in full, relative imports resolved; for
    `from package import name` both `package` and `package.name` (it may be a module)."""
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return frozenset(names)


def is_io(name: str) -> bool:
    return any(name == lib or name.startswith(lib + ".") for lib in IO_LIBRARIES)


def io_reached(path: Path, root: Path = ROOT) -> list[str]:
    """The I/O imports reachable from `path` through project modules, as `module: import`."""
    seen: set[Path] = set()
    todo = [path]
    found: set[str] = set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name in imported_modules(current, root):
            if is_io(name):
                found.add(f"{module_name(current, root)}: {name}")
            elif name.split(".")[0] in ("contracts", "services") and (
                imported := module_path(name, root)
            ):
                todo.append(imported)
    return sorted(found)


def pure_modules() -> list[Path]:
    files = sorted((ROOT / "contracts").rglob("*.py"))
    for service in SERVICES:
        files += [service / "domain.py", *sorted(service.glob("domain/*.py"))]
    files += [ROOT.joinpath(*name.split(".")).with_suffix(".py") for name in PURE]
    files += sorted(SHARED.rglob("*.py"))
    return [f for f in files if f.exists()]


def test_every_named_pure_module_exists():
    assert all(module_path(name) is not None for name in PURE)
    assert all((service / "domain.py").exists() for service in SERVICES)


@pytest.mark.parametrize("path", pure_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_pure_module_reaches_no_io_library(path):
    assert io_reached(path) == []


def test_the_check_catches_dotted_relative_and_indirect_imports(tmp_path):
    package = tmp_path / "services" / "demo"
    package.mkdir(parents=True)
    (tmp_path / "services" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "domain.py").write_text("from . import helper\nimport os.path\n")
    (package / "helper.py").write_text("import asyncpg.pool\n")
    (package / "other.py").write_text("from services.demo import pipes\n")
    (package / "pipes.py").write_text("from aio_pika.abc import AbstractChannel\n")
    assert io_reached(package / "domain.py", tmp_path) == ["services.demo.helper: asyncpg.pool"]
    assert io_reached(package / "other.py", tmp_path) == [
        "services.demo.pipes: aio_pika.abc",
        "services.demo.pipes: aio_pika.abc.AbstractChannel",
    ]


@pytest.mark.parametrize("path", sorted((ROOT / "contracts").rglob("*.py")), ids=str)
def test_contracts_never_import_services(path):
    assert not any(name.split(".")[0] == "services" for name in imported_modules(path))


@pytest.mark.parametrize("service", SERVICES, ids=lambda p: p.name)
def test_a_service_never_imports_another_service(service):
    others = {f"services.{p.name}" for p in SERVICES if p != service}
    for path in service.rglob("*.py"):
        for name in imported_modules(path):
            assert not any(name == o or name.startswith(o + ".") for o in others), (path, name)


@pytest.mark.parametrize("path", sorted(SHARED.rglob("*.py")), ids=lambda p: p.name)
def test_a_shared_rule_imports_no_service(path):
    services = {f"services.{p.name}" for p in SERVICES}
    for name in imported_modules(path):
        assert not any(name == s or name.startswith(s + ".") for s in services), name


SESSION_WRITES = {"create_session", "create_remember_token", "create_mfa_challenge"}
SESSION_STORE = "services/identity/store/"


def test_only_the_session_gate_opens_sessions():
    """DESIGN: every path that issues a session goes through one gate; sign-in methods are
    strategies (services/identity/signin/) that hand it a proof. A module that writes a session
    (or a remember token, or an mfa challenge) itself is a bug. Every mention of the store's
    writers counts, found in the syntax tree: a call, a reference kept for later
    (`f = store.sessions.create_session`), an import of the name."""
    mentions = set()
    for path in (ROOT / "services").rglob("*.py"):
        where = path.relative_to(ROOT).as_posix()
        if where.startswith(SESSION_STORE):
            continue  # where they are defined
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.attr]
                if isinstance(node, ast.Attribute)
                else [node.id]
                if isinstance(node, ast.Name)
                else [alias.name for alias in node.names]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if SESSION_WRITES.intersection(names):
                mentions.add(where)
    assert mentions == {"services/identity/gate.py"}


@pytest.mark.parametrize("service", SERVICES, ids=lambda p: p.name)
def test_rows_become_types_at_the_store_edge(service):
    """Above a service's store/, rows are the store's frozen dataclasses (`User`, `Session`,
    ...), named for what they are: no module there names `asyncpg.Record`."""
    for path in service.rglob("*.py"):
        if (service / "store") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            named = (
                isinstance(node, ast.Attribute)
                and node.attr == "Record"
                and isinstance(node.value, ast.Name)
                and node.value.id == "asyncpg"
            ) or (
                isinstance(node, ast.ImportFrom)
                and node.module == "asyncpg"
                and any(alias.name == "Record" for alias in node.names)
            )
            assert not named, f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"


def import_graph() -> dict[str, set[str]]:
    """Module → the project modules it imports (a package's `__init__` excluded as a target:
    importing `a.b.c` runs `a.b` first, which is not a dependency of the importer's code)."""
    paths = sorted((ROOT / "services").rglob("*.py")) + sorted((ROOT / "contracts").rglob("*.py"))
    graph: dict[str, set[str]] = {}
    for path in paths:
        edges = set()
        for name in imported_modules(path):
            found = module_path(name) if name.split(".")[0] in ("contracts", "services") else None
            if found is not None and found.name != "__init__.py":
                edges.add(module_name(found))
        graph[module_name(path)] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_through_others():
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
