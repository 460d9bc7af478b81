"""What the wheel takes: `gatehouse` and `contracts` from the repository root beside this
folder, or from this folder when it is an unpacked sdist (the sdist carries them). An editable
install takes neither: its .pth file puts the repository root itself on the path, so the
installed client is the repository's own files."""

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PACKAGES = ("gatehouse", "contracts")


class PackagesHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        here = Path(self.root)
        home = here if (here / "PKG-INFO").is_file() else here.parent
        for package in PACKAGES:
            build_data["force_include"][str(home / package)] = package
