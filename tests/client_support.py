"""Helpers for the client tests: build gatehouse-client from this checkout and install it
into an empty virtual environment (no system site-packages) with only the distributions its
metadata requires beside it, linked from this environment. Nothing is downloaded: the build
uses the hatchling installed here (the test extra), pip runs with `--no-index`, and the
dependencies are the ones installed here."""

import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
SERVICE_ONLY_IMPORTS = ("asyncpg", "jinja2", "aiosmtplib", "argon2", "passlib", "bcrypt")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would let a child see this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env | extra


def requirements_closure(requirements: list[str]) -> dict[str, metadata.Distribution]:
    """Every installed distribution that `requirements` pull in, extras and markers followed,
    by canonical name. Skips the test when one is not installed here."""
    found: dict[str, metadata.Distribution] = {}
    extras_seen: dict[str, set[str]] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        requirement = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        wanted = set(requirement.extras)
        if name in found and wanted <= extras_seen[name]:
            continue
        try:
            found[name] = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            pytest.skip(f"{name}, which gatehouse-client requires, is not installed here")
        extras_seen[name] = extras_seen.get(name, set()) | wanted
        for line in found[name].requires or []:
            sub = Requirement(line)
            environments = [{"extra": e} for e in extras_seen[name] or {""}]
            if sub.marker is None or any(sub.marker.evaluate(e) for e in environments):
                todo.append(Requirement(str(sub).split(";")[0]))
    return found


@dataclass(frozen=True)
class ClientVenv:
    python: Path
    wheel: Path
    site_packages: Path
    distributions: frozenset[str]

    def run(self, script: str, *, timeout_s: float = 60.0, **env: str) -> str:
        """Run `script` with the venv's interpreter in isolated mode (-I: no PYTHONPATH, no
        user site, not the current directory); its standard output, or the test fails."""
        result = subprocess.run(
            [str(self.python), "-I", "-c", script],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=clean_env(**env),
            cwd=self.python.parent,
        )
        assert result.returncode == 0, result.stderr[-4000:]
        return result.stdout


def _wheel_requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        fields = Parser().parsestr(archive.read(name).decode())
    return fields.get_all("Requires-Dist") or []


def _link_distributions(distributions: dict[str, metadata.Distribution], into: Path) -> None:
    into.mkdir()
    for distribution in distributions.values():
        tops = {f.parts[0] for f in distribution.files or []}
        for top in sorted(tops - {"..", "__pycache__"}):
            if top.endswith(".pth") or (into / top).exists():
                continue
            target = Path(str(distribution.locate_file(top)))
            if target.exists():
                (into / top).symlink_to(target)


def _check(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, env=clean_env())
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]


def build_wheel(out: Path, source: Path = ROOT / "client") -> Path:
    """Build the gatehouse-client wheel from `source` (this checkout's client/, or an
    unpacked sdist) into `out`, as `pip wheel` does for a user."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "wheel", "--quiet"]
    _check([*pip, "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out), str(source)])
    (wheel,) = out.glob("gatehouse_client-*.whl")
    return wheel


def make_venv(wheel: Path, where: Path) -> ClientVenv:
    """A virtual environment in `where` with `wheel` installed and, beside it, only the
    distributions the wheel's metadata requires (skips the test if pip is too old)."""
    pip_version = tuple(int(p) for p in metadata.version("pip").split(".")[:2])
    if pip_version < (22, 3):
        pytest.skip("pip --python (pip 22.3 or later) installs into the bare environment")
    distributions = requirements_closure(_wheel_requirements(wheel))
    venv = where / "venv"
    _check([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", str(python)]
    _check([*pip, "install", "--quiet", "--no-deps", "--no-index", str(wheel)])
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(subprocess.check_output([str(python), "-I", "-c", purelib], text=True).strip())
    linked = where / "dependencies"
    _link_distributions(distributions, linked)
    (site / "gatehouse-client-test-dependencies.pth").write_text(f"{linked}\n")
    return ClientVenv(python, wheel, site, frozenset(distributions))
