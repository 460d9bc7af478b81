"""How client/assemble.py turns repository modules into the `gatehouse` package: every import
of the repository renamed and nothing else touched, and a build that stops on what the client
must not ship. (tests/contract/test_client_package.py installs the result.)"""

import ast
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_assemble() -> ModuleType:
    spec = importlib.util.spec_from_file_location("client_assemble", ROOT / "client/assemble.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


assemble = _load_assemble()

SOURCE = '''"""Docstring naming contracts.topology and services.runtime.rpc: left alone."""

from typing import TYPE_CHECKING

import aio_pika
from contracts.errors import ErrorCode
from contracts.identity import v1 as identity_v1
from services.runtime import envelope
from services.runtime.rpc import (
    RemoteError,
    RpcClient,
)
import contracts.topology as topology

if TYPE_CHECKING:
    from services.runtime.broker_settings import BrokerSettings


def lazy() -> None:
    from services.runtime.loop import run  # noqa: contracts.errors in a comment stays
    import contracts.verification.v1 as verification_v1, json

QUEUE = "contracts.x"  # a string that looks like a module is not an import
'''

RENAMED = '''"""Docstring naming contracts.topology and services.runtime.rpc: left alone."""

from typing import TYPE_CHECKING

import aio_pika
from gatehouse.contracts.errors import ErrorCode
from gatehouse.contracts.identity import v1 as identity_v1
from gatehouse._runtime import envelope
from gatehouse.rpc import (
    RemoteError,
    RpcClient,
)
import gatehouse.contracts.topology as topology

if TYPE_CHECKING:
    from gatehouse._runtime.broker_settings import BrokerSettings


def lazy() -> None:
    from gatehouse._runtime.loop import run  # noqa: contracts.errors in a comment stays
    import gatehouse.contracts.verification.v1 as verification_v1, json

QUEUE = "contracts.x"  # a string that looks like a module is not an import
'''


def test_every_import_of_the_repository_is_renamed_and_nothing_else_changes():
    assert assemble.rewrite(SOURCE, "sample") == RENAMED


def test_the_sdk_modules_get_their_public_names():
    assert assemble.client_name("services.runtime.rpc") == "gatehouse.rpc"
    assert assemble.client_name("services.hooks_sdk") == "gatehouse.hooks"
    assert assemble.client_name("services.channels") == "gatehouse.channels"
    assert assemble.client_name("services.access_tokens") == "gatehouse.access_tokens"
    assert assemble.client_name("services.runtime.envelope") == "gatehouse._runtime.envelope"
    assert assemble.client_name("contracts.identity.v1") == "gatehouse.contracts.identity.v1"
    assert assemble.client_name("services.identity.app") is None


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("from . import envelope\n", "relative import"),
        ("import contracts.topology\n", "binds `contracts`"),
        ("from services.runtime import rpc\n", "import it by full name"),
        ("from services.identity import store\n", "has no place in the client"),
    ],
)
def test_forms_the_renaming_could_get_wrong_stop_the_build(source, says):
    with pytest.raises(assemble.AssemblyError, match=says):
        assemble.rewrite(source, "sample")


def fake_repository(root: Path, **modules: str) -> Path:
    """A repository with the client's entry points (empty unless given) and `modules`."""
    (root / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "9.9"\n')
    names = ["contracts", "services", "services.runtime", *assemble.ENTRY_POINTS, *modules]
    for name in names:
        base = root.joinpath(*name.split("."))
        is_package = name in ("contracts", "services", "services.runtime")
        path = base / "__init__.py" if is_package else base.with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(modules.get(name, ""))
    return root


def test_a_module_that_reaches_a_service_only_library_stops_the_build_naming_the_chain(tmp_path):
    root = fake_repository(
        tmp_path,
        **{
            "services.channels": "from services.runtime.standalone import run\n",
            "services.runtime.standalone": "from services.runtime.db import connect\n",
            "services.runtime.db": "import asyncpg\n",
        },
    )
    chain = "services.runtime.db ← services.runtime.standalone ← services.channels"
    with pytest.raises(assemble.AssemblyError, match=re.escape(f"{chain} imports asyncpg")):
        assemble.assemble(root)


def test_a_module_of_a_service_stops_the_build(tmp_path):
    root = fake_repository(
        tmp_path, **{"services.hooks_sdk": "from services.identity.store import users\n"}
    )
    with pytest.raises(assemble.AssemblyError, match=re.escape("services.identity.store")):
        assemble.assemble(root)


def test_the_package_carries_the_repository_version(tmp_path):
    files = assemble.assemble(fake_repository(tmp_path))
    assert '__version__ = "9.9"' in files["gatehouse/__init__.py"].decode()


def test_the_assembled_package_imports_nothing_of_the_repository_by_its_own_name():
    files = assemble.assemble()
    assert {"gatehouse/rpc.py", "gatehouse/hooks.py", "gatehouse/channels.py"} <= set(files)
    assert "gatehouse/access_tokens.py" in files
    assert "gatehouse/contracts/identity/v1/__init__.py" in files
    for path, data in files.items():
        if not path.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(data, path)):
            if isinstance(node, ast.Import):
                tops = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, path
                tops = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not tops & {"contracts", "services"}, (path, node.lineno)
            assert not tops & assemble.SERVICE_ONLY, (path, node.lineno)


def test_the_whole_of_contracts_ships_so_a_new_contract_needs_no_list():
    files = assemble.assemble()
    for path in (ROOT / "contracts").rglob("*.py"):
        assert f"gatehouse/{path.relative_to(ROOT).as_posix()}" in files
