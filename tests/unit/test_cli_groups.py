"""`gatehouse` imports only the group it runs, and `--help` still lists every group."""

import subprocess
import sys

from services.cli.main import GROUPS


def _python(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout


def test_help_lists_every_command_group() -> None:
    listed = _python(
        "from services.cli.main import parser; print(parser(['--help']).format_help())"
    )
    assert all(f"    {name} " in listed for name in GROUPS)


def test_a_command_imports_its_own_group_and_no_service() -> None:
    loaded = _python(
        "import sys; from services.cli.main import parser; parser(['schemas', '--check']); "
        "print(sorted(m for m in sys.modules if m.startswith('services.')))"
    )
    assert "services.cli.schemas" in loaded
    assert "services.cli.users" not in loaded
    assert "services.identity.app" not in loaded
