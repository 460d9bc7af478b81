"""gatehouse-client installs cleanly into another service (issue 14): one import name,
`gatehouse`, the contracts and every SDK under it, and none of the libraries only the services
need, neither declared nor reached.

The wheel is built from this checkout and installed into an empty virtual environment with
only its declared dependencies beside it (tests/fixtures/client.py); nothing is downloaded."""

import json
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.client_support import (
    ROOT,
    SERVICE_ONLY_IMPORTS,
    ClientVenv,
    build_wheel,
    clean_env,
    requirements_closure,
)

SERVICE_ONLY_DISTRIBUTIONS = {
    "asyncpg",
    "jinja2",
    "aiosmtplib",
    "argon2-cffi",
    "argon2-cffi-bindings",
    "passlib",
    "libpass",
    "bcrypt",
}


def project(path: Path) -> dict:
    return tomllib.loads(path.read_text())["project"]


def client_requirements(*, extras: bool) -> list[Requirement]:
    client = project(ROOT / "client/pyproject.toml")
    lines = list(client["dependencies"])
    if extras:
        lines += [r for group in client["optional-dependencies"].values() for r in group]
    return [Requirement(line) for line in lines]


def test_the_client_declares_no_library_only_the_services_need():
    declared = {canonicalize_name(r.name) for r in client_requirements(extras=True)}
    assert not declared & SERVICE_ONLY_DISTRIBUTIONS


def test_nothing_the_client_requires_pulls_in_a_library_only_the_services_need():
    installed = requirements_closure([str(r) for r in client_requirements(extras=False)])
    assert not set(installed) & SERVICE_ONLY_DISTRIBUTIONS, sorted(installed)


def test_the_client_pins_each_dependency_as_the_services_do():
    services: dict[str, Requirement] = {}
    main = project(ROOT / "pyproject.toml")
    for line in [*main["dependencies"], *main["optional-dependencies"]["otel"]]:
        requirement = Requirement(line)
        services[canonicalize_name(requirement.name)] = requirement
    # The client's own extra for FastStream's metrics, which the services always install.
    services["prometheus-client"] = Requirement("prometheus-client>=0.20")
    for requirement in client_requirements(extras=True):
        theirs = services[canonicalize_name(requirement.name)]
        assert requirement.specifier == theirs.specifier, (requirement, theirs)
        assert requirement.extras <= theirs.extras, (requirement, theirs)


def test_the_wheel_holds_one_top_level_name(client_venv: ClientVenv):
    with zipfile.ZipFile(client_venv.wheel) as wheel:
        tops = {name.split("/")[0] for name in wheel.namelist()}
    version = project(ROOT / "pyproject.toml")["version"]
    assert tops == {"gatehouse", f"gatehouse_client-{version}.dist-info"}


IMPORT_EVERYTHING = """
import importlib, importlib.util, json, pkgutil, sys

import gatehouse
from gatehouse.access_tokens import AccessTokenVerifier, HttpJwks
from gatehouse.channels import ChannelWorker, CustomChannel, custom_channel
from gatehouse.contracts.identity import v1
from gatehouse.contracts.topology import Topology
from gatehouse.hooks import HookWorker, hook, make_hook
from gatehouse.rpc import RemoteError, RpcClient

modules = [m.name for m in pkgutil.walk_packages(gatehouse.__path__, "gatehouse.")]
for name in modules:
    importlib.import_module(name)


async def send(delivery):
    pass


async def on_login(event, api):
    pass


# The contracts validate through the SDKs as they do in the services.
CustomChannel("pigeon", "email", send)
make_hook("post_login", on_login, priority=5)
v1.Login(username="ada_lovelace", password="correct-horse-1")
RpcClient("amqp://localhost/", Topology("gatehouse"))
AccessTokenVerifier(HttpJwks("http://localhost/jwks.json"), issuer="gatehouse", audience="api")

print(json.dumps({
    "gatehouse": gatehouse.__file__,
    "version": gatehouse.__version__,
    "modules": modules,
    "loaded": sorted({m.split(".")[0] for m in sys.modules}),
    "findable": sorted(m for m in NAMES if importlib.util.find_spec(m) is not None),
}))
"""


def test_the_installed_client_imports_everything_without_a_service_only_library(
    client_venv: ClientVenv,
):
    names = [*SERVICE_ONLY_IMPORTS, "contracts", "services", "phonenumbers", "email_validator"]
    script = f"NAMES = {names!r}\n{IMPORT_EVERYTHING}"
    report = json.loads(client_venv.run(script))
    assert report["gatehouse"].startswith(str(client_venv.site_packages))
    assert report["version"] == project(ROOT / "pyproject.toml")["version"]
    for module in ("rpc", "hooks", "channels", "access_tokens", "contracts.identity.v1"):
        assert f"gatehouse.{module}" in report["modules"]
    # Neither importable nor imported: not installed, and nothing needed them.
    assert report["findable"] == []
    assert not set(report["loaded"]) & set(names)


def test_a_wheel_built_from_the_sdist_is_the_same_wheel(client_venv: ClientVenv, tmp_path):
    """An sdist carries the assembled package, so it builds without the repository."""
    build = (
        "import sys; sys.path.insert(0, '.'); import backend; "
        f"print(backend.build_sdist({str(tmp_path)!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", build],
        cwd=ROOT / "client",
        capture_output=True,
        text=True,
        env=clean_env(),
        check=True,
    )
    sdist = tmp_path / done.stdout.strip()
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    assert not (unpacked.parent / "contracts").exists()  # nothing to assemble from
    rebuilt = build_wheel(tmp_path / "dist", source=unpacked)
    assert rebuilt.read_bytes() == client_venv.wheel.read_bytes()
