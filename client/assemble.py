"""What goes into the `gatehouse` package of gatehouse-client, read from this repository.

The client is not a second copy of anything. It is the repository's own modules, renamed
under one import name: `contracts.*` becomes `gatehouse.contracts.*`, the SDK modules become
`gatehouse.rpc`, `gatehouse.hooks`, `gatehouse.channels` and `gatehouse.access_tokens`, and
the plumbing they import becomes `gatehouse._runtime.*`. The services keep importing every
module by its repository name.

Which modules: all of `contracts`, the SDK modules, and every module of this repository that
those import, found by walking their imports (`import` statements anywhere in a module,
functions and `TYPE_CHECKING` blocks included). A module that reaches a service-only library
(`SERVICE_ONLY`) or a repository module without a place in `MODULES` stops the build and names
the chain that reached it: the client cannot quietly grow a database driver.

The renaming is mechanical: in each shipped module, the module name of every absolute import
of `contracts` or `services` is replaced where the syntax tree says it is, and nothing else
in the file changes. Forms the renaming could get wrong are refused: relative imports, a bare
`import contracts.x` (it binds `contracts`), and `from package import module` where the module
would land outside the package's new name.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent

# Repository module (or package, with everything under it) → its name in the client. The
# longest matching prefix wins.
MODULES = {
    "contracts": "gatehouse.contracts",
    "services.runtime": "gatehouse._runtime",
    "services.runtime.rpc": "gatehouse.rpc",
    "services.hooks_sdk": "gatehouse.hooks",
    "services.channels": "gatehouse.channels",
    "services.access_tokens": "gatehouse.access_tokens",
    "services.jwks": "gatehouse.jwks",
}
# What the client is for. `contracts` is shipped whole, so every message model is there.
ENTRY_POINTS = (
    "services.runtime.rpc",
    "services.hooks_sdk",
    "services.channels",
    "services.access_tokens",
)
WHOLE_PACKAGES = ("contracts",)
PROJECT_PACKAGES = ("contracts", "services")
# Libraries only a Gatehouse service uses; the client must never reach one.
SERVICE_ONLY = frozenset({"asyncpg", "jinja2", "aiosmtplib", "argon2", "passlib", "bcrypt"})

PACKAGE = "gatehouse"
INIT = '''"""Gatehouse's client: what another service needs to talk to Gatehouse over RabbitMQ.

- `gatehouse.contracts`: every command, reply, event and hook message (pydantic models), the
  topology (`gatehouse.contracts.topology.Topology`) and the error codes.
- `gatehouse.rpc`: `RpcClient`, to call any command and get its reply.
- `gatehouse.hooks`: `@hook` and `HookWorker`, to extend identity's flows.
- `gatehouse.channels`: `@custom_channel` and `ChannelWorker`, to deliver codes your way.
- `gatehouse.access_tokens`: `AccessTokenVerifier`, to check access tokens locally.

Built from the Gatehouse repository (`client/`): the modules the services run, under this name.
"""

__version__ = "{version}"
'''


class AssemblyError(Exception):
    """The client cannot be built from the repository as it is; the message says why."""


@dataclass(frozen=True)
class Source:
    name: str  # dotted name in the repository
    path: Path
    reached_from: str | None  # the module whose import brought it in, for error messages

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"


def client_name(module: str) -> str | None:
    """The name `module` has in the client; None when the client has no place for it."""
    for prefix in sorted(MODULES, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return MODULES[prefix] + module[len(prefix) :]
    return None


def source_path(module: str, root: Path) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_project(module: str) -> bool:
    return module.split(".")[0] in PROJECT_PACKAGES


def _chain(source: Source, sources: dict[str, Source]) -> str:
    names = [source.name]
    current = source
    while current.reached_from is not None:
        current = sources[current.reached_from]
        names.append(current.name)
    return " ← ".join(names)


def _imports(tree: ast.Module, where: str) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssemblyError(
                f"{where}: relative import on line {node.lineno}; use the full name"
            )
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
    return found


def _project_modules(node: ast.Import | ast.ImportFrom, root: Path) -> list[str]:
    """The repository modules an import statement loads, parents included."""
    named: list[str] = []
    if isinstance(node, ast.Import):
        named = [alias.name for alias in node.names]
    elif node.module is not None:
        named = [node.module]
        named += [
            f"{node.module}.{alias.name}"
            for alias in node.names
            if source_path(f"{node.module}.{alias.name}", root) is not None
        ]
    modules: list[str] = []
    for name in named:
        if not _is_project(name):
            continue
        parts = name.split(".")
        modules += [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    return modules


def collect(root: Path = REPOSITORY) -> dict[str, Source]:
    """Every repository module the client ships, by dotted name."""
    todo: list[Source] = []
    for package in WHOLE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            todo.append(Source(name, path, None))
    for name in ENTRY_POINTS:
        entry = source_path(name, root)
        if entry is None:
            raise AssemblyError(f"{name}: no such module")
        todo.append(Source(name, entry, None))
    sources: dict[str, Source] = {}
    while todo:
        source = todo.pop()
        if source.name in sources:
            continue
        sources[source.name] = source
        tree = ast.parse(source.path.read_bytes(), str(source.path))
        for node in _imports(tree, source.name):
            for library in _libraries(node):
                if library in SERVICE_ONLY:
                    where = _chain(source, sources)
                    raise AssemblyError(f"{where} imports {library}, which only services need")
            # Deepest first, so that an error names the module the statement asked for.
            for name in reversed(_project_modules(node, root)):
                if name in PROJECT_PACKAGES and client_name(name) is None:
                    continue  # `services` itself: only its mapped modules ship
                found = source_path(name, root)
                if found is None or client_name(name) is None:
                    where = _chain(source, sources)
                    raise AssemblyError(f"{where} imports {name}, which the client does not ship")
                todo.append(Source(name, found, source.name))
    return sources


def _libraries(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name.split(".")[0] for alias in node.names]
    return [node.module.split(".")[0]] if node.module else []


def rewrite(text: str, where: str, root: Path = REPOSITORY) -> str:
    """`text` with every absolute import of a repository module renamed to its client name."""
    tree = ast.parse(text, where)
    lines = text.splitlines(keepends=True)
    # (line index, byte offset, old name, new name), applied last to first.
    edits: list[tuple[int, int, str, str]] = []
    for node in _imports(tree, where):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not _is_project(alias.name):
                    continue
                if alias.asname is None:
                    raise AssemblyError(
                        f"{where}: `import {alias.name}` on line {node.lineno} binds "
                        f"`{alias.name.split('.')[0]}`; use `from … import` or `as`"
                    )
                edits.append((alias.lineno - 1, alias.col_offset, alias.name, _renamed(alias.name)))
        elif node.module is not None and _is_project(node.module):
            renamed = _renamed(node.module)
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                if source_path(child, root) is not None and _renamed(child) != (
                    f"{renamed}.{alias.name}"
                ):
                    raise AssemblyError(
                        f"{where}: line {node.lineno} imports module {child} from its package, "
                        f"which becomes {_renamed(child)} in the client; import it by full name"
                    )
            line = lines[node.lineno - 1].encode()
            keyword = node.col_offset + len(b"from")
            offset = keyword + len(line[keyword:]) - len(line[keyword:].lstrip())
            edits.append((node.lineno - 1, offset, node.module, renamed))
    for index, offset, old, new in sorted(edits, reverse=True):
        line = lines[index].encode()
        if line[offset : offset + len(old)] != old.encode():
            raise AssemblyError(f"{where}: line {index + 1} does not spell {old} where expected")
        lines[index] = (line[:offset] + new.encode() + line[offset + len(old) :]).decode()
    return "".join(lines)


def _renamed(module: str) -> str:
    name = client_name(module)
    if name is None:
        raise AssemblyError(f"{module} has no place in the client")
    return name


def version(root: Path = REPOSITORY) -> str:
    """The client's version is the repository's: one number for both distributions."""
    with (root / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def assemble(root: Path = REPOSITORY) -> dict[str, bytes]:
    """The files of the `gatehouse` package, by path inside a wheel."""
    sources = collect(root)
    files: dict[str, bytes] = {}
    for source in sources.values():
        target = _renamed(source.name)
        parts = target.split(".")
        # Every package above a shipped module must ship too, each from one repository package.
        for depth in range(2, len(parts)):
            package = ".".join(parts[:depth])
            if not any(s.is_package and _renamed(s.name) == package for s in sources.values()):
                raise AssemblyError(f"{target}: no repository package becomes {package}")
        path = "/".join(parts) + ("/__init__.py" if source.is_package else ".py")
        if path in files:
            raise AssemblyError(f"two modules become {target}")
        text = source.path.read_text(encoding="utf-8")
        files[path] = rewrite(text, source.name, root).encode()
    files[f"{PACKAGE}/__init__.py"] = INIT.replace("{version}", version(root)).encode()
    files[f"{PACKAGE}/py.typed"] = b""
    return dict(sorted(files.items()))
