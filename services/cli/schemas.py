"""`gatehouse schemas [--check]`: the schema files and docs/reference.md, from the contracts."""

import argparse
from pathlib import Path
from typing import Any

from services.runtime.settings import Mode, Settings
from services.schemas import schema_files

ROOT = Path(__file__).resolve().parents[2]


def add(commands: Any) -> None:
    schemas = commands.add_parser(
        "schemas", help="write contracts/schemas/ and docs/reference.md from the contracts"
    )
    schemas.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if the files are stale or a change breaks the baseline's users",
    )
    schemas.set_defaults(run=run, mode=Mode.prod)


def run(args: argparse.Namespace, settings: Settings) -> int:
    expected = schema_files.render()
    if args.check:
        problems = schema_files.check(ROOT, expected)
        for line in problems:
            print(line)
        return 1 if problems else 0
    for line in schema_files.breaking_report(ROOT, expected):
        print(line)
    schema_files.write(ROOT, expected)
    print(f"wrote {len(expected)} files under {ROOT}")
    return 0
