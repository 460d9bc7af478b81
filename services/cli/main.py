"""The parser, the dispatch, and what every command's failure looks like."""

import argparse
import contextlib
import os
import sys

from services.cli import (
    broker_users,
    call,
    config_reference,
    db_roles,
    dlq,
    down,
    events,
    keys,
    migrate,
    schemas,
    up,
    users,
)
from services.cli.reach import Unreachable
from services.ops.system import SystemSettings
from services.runtime import logs
from services.runtime.settings import Mode

# Each group adds its subcommand(s) and sets `run(args, settings) -> exit status` and
# `mode` (the mode used when GATEHOUSE_MODE is unset) as their defaults.
GROUPS = (
    up,
    call,
    migrate,
    db_roles,
    broker_users,
    keys,
    schemas,
    config_reference,
    events,
    dlq,
    down,
    users,
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gatehouse", description="Run Gatehouse and operate a running installation."
    )
    commands = p.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add(commands)
    return p


def settings_for(default_mode: Mode) -> SystemSettings:
    """Every service's settings: some commands build the services, all read the common ones."""
    if "GATEHOUSE_MODE" in os.environ:
        return SystemSettings()
    return SystemSettings(mode=default_mode)


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        settings = settings_for(args.mode)
    except ValueError as exc:
        sys.exit(f"gatehouse: invalid settings: {exc}")
    logs.configure(settings.log_level, settings.log_json)
    code = 0
    with contextlib.suppress(KeyboardInterrupt):
        try:
            code = args.run(args, settings)
        except Unreachable as exc:
            print(exc.explain(), file=sys.stderr)
            code = 1
    sys.exit(code)
