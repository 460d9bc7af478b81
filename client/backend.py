"""The build backend of gatehouse-client (PEP 517), with nothing to install first.

Builds from a checkout of the repository (`pip install ./client`, `pip wheel ./client`, a git
URL with `#subdirectory=client`): the `gatehouse` package comes from `assemble.py`. An sdist
carries the assembled package with it, so a wheel builds from the sdist alone.

Why not setuptools: its package-dir cannot reach `../contracts` from this folder without
copying files into it, the renaming would need a custom command anyway, and building a wheel
with it needs `wheel` or a recent setuptools, which a machine without the network may lack.
A wheel is a zip with three metadata files; writing one takes the standard library.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path
from typing import Any

import assemble

HERE = Path(__file__).resolve().parent
# Fixed timestamps: the same sources make the same wheel, byte for byte.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
TAR_TIME = 315532800
SDIST_FILES = ("pyproject.toml", "README.md", "backend.py", "assemble.py")


def get_requires_for_build_wheel(config_settings: Any = None) -> list[str]:
    return []


def get_requires_for_build_sdist(config_settings: Any = None) -> list[str]:
    return []


def build_wheel(
    wheel_directory: str, config_settings: Any = None, metadata_directory: Any = None
) -> str:
    files, version = _package()
    name = _project()["name"].replace("-", "_")
    dist_info = f"{name}-{version}.dist-info"
    files[f"{dist_info}/METADATA"] = _metadata(version).encode()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: gatehouse-client backend.py\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in files.items()]
    files[f"{dist_info}/RECORD"] = ("\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n").encode()
    filename = f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(Path(wheel_directory) / filename, "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, data in files.items():
            entry = zipfile.ZipInfo(path, ZIP_TIME)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(entry, data)
    return filename


def build_sdist(sdist_directory: str, config_settings: Any = None) -> str:
    files, version = _package()
    base = f"{_project()['name'].replace('-', '_')}-{version}"
    files["PKG-INFO"] = _metadata(version).encode()
    for name in SDIST_FILES:
        files[name] = (HERE / name).read_bytes()
    filename = f"{base}.tar.gz"
    with tarfile.open(Path(sdist_directory) / filename, "w:gz", format=tarfile.PAX_FORMAT) as sdist:
        for path, data in sorted(files.items()):
            entry = tarfile.TarInfo(f"{base}/{path}")
            entry.size, entry.mtime, entry.mode = len(data), TAR_TIME, 0o644
            sdist.addfile(entry, io.BytesIO(data))
    return filename


def _package() -> tuple[dict[str, bytes], str]:
    """The `gatehouse` package's files and the version: assembled from the repository, or as
    an sdist shipped them (an unpacked sdist has a PKG-INFO)."""
    if (HERE / "PKG-INFO").is_file():
        version = Parser().parsestr((HERE / "PKG-INFO").read_text())["Version"]
        package = HERE / assemble.PACKAGE
        files = {
            path.relative_to(HERE).as_posix(): path.read_bytes()
            for path in sorted(package.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts
        }
        return files, version
    if not (assemble.REPOSITORY / "contracts").is_dir():
        raise RuntimeError(
            "gatehouse-client builds from a checkout of the Gatehouse repository (client/ "
            "beside contracts/ and services/; pip 21.3 and later build it in place) or from "
            "its sdist"
        )
    return assemble.assemble(), assemble.version()


def _project() -> dict[str, Any]:
    with (HERE / "pyproject.toml").open("rb") as file:
        project: dict[str, Any] = tomllib.load(file)["project"]
    return project


def _metadata(version: str) -> str:
    """Core metadata 2.1 from the [project] table of pyproject.toml."""
    project = _project()
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {version}",
        f"Summary: {project['description']}",
        f"License: {project['license']['text']}",
        f"Requires-Python: {project['requires-python']}",
    ]
    lines += [f"Requires-Dist: {requirement}" for requirement in project["dependencies"]]
    for extra, requirements in project.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        for requirement in requirements:
            name, _, marker = requirement.partition(";")
            condition = f'extra == "{extra}"'
            if marker.strip():
                condition = f"({marker.strip()}) and {condition}"
            lines.append(f"Requires-Dist: {name.strip()}; {condition}")
    lines.append("Description-Content-Type: text/markdown")
    readme = (HERE / project["readme"]).read_text(encoding="utf-8")
    return "\n".join(lines) + "\n\n" + readme


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
