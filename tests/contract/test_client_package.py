"""gatehouse-client installs cleanly into another service (issue 14): two packages,
`gatehouse` (the SDKs) and `contracts` (the messages), and none of the libraries only the
services need, neither declared nor reached.

The wheel is built from this checkout and installed into an empty virtual environment with
only its declared dependencies beside it (tests/fixtures/client.py); nothing is downloaded.
An editable install is the repository's own files."""

import json
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from gatehouse import __version__
from tests.client_support import (
    ROOT,
    SERVICE_ONLY_IMPORTS,
    ClientVenv,
    build_wheel,
    clean_env,
    make_venv,
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


def test_the_wheel_holds_the_client_and_the_contracts_and_nothing_else(client_venv: ClientVenv):
    with zipfile.ZipFile(client_venv.wheel) as wheel:
        tops = {name.split("/")[0] for name in wheel.namelist()}
    assert tops == {"gatehouse", "contracts", f"gatehouse_client-{__version__}.dist-info"}


IMPORT_EVERYTHING = """
import importlib, importlib.util, json, pkgutil, sys

import contracts
import gatehouse
from contracts.identity import v1
from contracts.topology import Topology
from gatehouse.access_tokens import AccessTokenVerifier, HttpJwks
from gatehouse.channels import ChannelWorker, CustomChannel, custom_channel
from gatehouse.hooks import HookWorker, hook, make_hook
from gatehouse.rpc import RemoteError, RpcClient

modules = [
    m.name
    for package in (gatehouse, contracts)
    for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
]
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
    names = [*SERVICE_ONLY_IMPORTS, "services", "phonenumbers", "email_validator"]
    script = f"NAMES = {names!r}\n{IMPORT_EVERYTHING}"
    report = json.loads(client_venv.run(script))
    assert report["gatehouse"].startswith(str(client_venv.site_packages))
    assert report["version"] == __version__
    for module in ("rpc", "hooks", "channels", "access_tokens", "settings"):
        assert f"gatehouse.{module}" in report["modules"]
    assert "contracts.identity.v1" in report["modules"]
    # Neither importable nor imported: not installed, and nothing needed them.
    assert report["findable"] == []
    assert not set(report["loaded"]) & set(names)


def _hatchling(call: str, out: Path) -> Path:
    """Run one hatchling build function in client/, as a build frontend would; the file made."""
    script = f"from hatchling.build import {call}; print({call}({str(out)!r}))"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT / "client",
        capture_output=True,
        text=True,
        env=clean_env(),
        check=True,
    )
    return out / done.stdout.strip()


def test_a_wheel_built_from_the_sdist_is_the_same_wheel(client_venv: ClientVenv, tmp_path):
    """The sdist carries both packages, so it builds without the repository."""
    sdist = _hatchling("build_sdist", tmp_path)
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    assert (unpacked / "gatehouse/rpc.py").is_file()
    rebuilt = build_wheel(tmp_path / "dist", source=unpacked)
    assert rebuilt.read_bytes() == client_venv.wheel.read_bytes()


RAISE_IN_THE_CLIENT = """
import traceback
import contracts
from gatehouse.channels import CustomChannel

print(contracts.__file__)

async def send(delivery):
    pass

try:
    CustomChannel("email", None, send)  # a built-in name: refused by the contracts
except ValueError as exc:
    print(traceback.format_exc())
"""


def test_an_editable_install_is_the_repository_and_its_tracebacks_name_its_files(tmp_path):
    """`pip install -e ./client`: hatchling's editable wheel, installed as pip would."""
    editable = _hatchling("build_editable", tmp_path / "dist")
    venv = make_venv(editable, tmp_path)
    with zipfile.ZipFile(editable) as wheel:
        assert not [n for n in wheel.namelist() if n.endswith(".py")]  # no copy of any module
    printed = venv.run(RAISE_IN_THE_CLIENT)
    assert f'File "{ROOT / "gatehouse/channels.py"}"' in printed
    assert printed.startswith(f"{ROOT / 'contracts/__init__.py'}\n")
