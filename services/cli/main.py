"""The parser, the dispatch, and what every command's failure looks like."""

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence

from services.cli.reach import Unreachable
from services.ops.system import SystemSettings
from services.runtime import logs
from services.runtime.settings import Mode

# Each group is a module `services.cli.<command with - as _>` whose `add(commands)` adds its
# subcommand and sets `run(args, settings) -> exit status` and `mode` (the mode used when
# GATEHOUSE_MODE is unset) as their defaults. Groups import what they run with (the services,
# aio-pika, rich), so a call imports only its own group: every `gatehouse` process in the
# tests and in operations pays for one group, not all twelve.
GROUPS = (
    "up",
    "call",
    "migrate",
    "db-roles",
    "broker-users",
    "keys",
    "schemas",
    "config-reference",
    "events",
    "dlq",
    "down",
    "users",
)


def parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`: with only its command's group when it names one, else with
    every group, so that `--help` and an unknown command list them all."""
    argv = sys.argv[1:] if argv is None else argv
    # The top-level parser takes no option but -h, so a call's first word is its command.
    named = argv[0] if argv and argv[0] in GROUPS else None
    p = argparse.ArgumentParser(
        prog="gatehouse", description="Run Gatehouse and operate a running installation."
    )
    commands = p.add_subparsers(dest="command", required=True)
    for name in (named,) if named else GROUPS:
        importlib.import_module(f"services.cli.{name.replace('-', '_')}").add(commands)
    return p


def settings_for(default_mode: Mode) -> SystemSettings:
    """Every service's settings: some commands build the services, all read the common ones."""
    if "GATEHOUSE_MODE" in os.environ:
        return SystemSettings()
    return SystemSettings(mode=default_mode)


def main(argv: list[str] | None = None) -> None:
    args = parser(argv).parse_args(argv)
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
