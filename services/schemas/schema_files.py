"""The files generated from the contracts (`contracts/schemas/`, `docs/reference.md`): rendering
them, comparing them with what is committed, and with the last release's baseline."""

import json
from collections.abc import Mapping
from pathlib import Path

import yaml

from contracts import asyncapi, export
from services.schemas import reference_doc
from services.schemas.schema_compat import Change, Message, compare

SCHEMAS = "contracts/schemas"
# The last release's per-message schemas and routes, copied by hand at a release, never
# generated: `gatehouse schemas --check` fails on what would break their users.
BASELINE = f"{SCHEMAS}/baseline"
ASYNCAPI = "asyncapi.yaml"
ROUTES = "routes.json"
REFERENCE = "docs/reference.md"


class _NoAliases(yaml.SafeDumper):
    """Examples share objects; spelled out, the document needs no YAML anchors to read."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _json(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render() -> dict[str, str]:
    """Every generated file, by its path from the repository root."""
    schemas = {name: _json(schema) for name, schema in export.json_schemas().items()}
    schemas[ROUTES] = _json(export.routes())
    schemas[ASYNCAPI] = yaml.dump(
        asyncapi.document(), Dumper=_NoAliases, sort_keys=False, allow_unicode=True
    )
    files = {f"{SCHEMAS}/{name}": text for name, text in schemas.items()}
    files[REFERENCE] = reference_doc.render()
    return files


def differences(root: Path, expected: dict[str, str]) -> list[str]:
    """Paths of generated files missing, changed, or present but no longer generated."""
    present = {
        path.relative_to(root).as_posix()
        for path in (root / SCHEMAS).rglob("*")
        if path.is_file()
        and path.suffix in {".json", ".yaml"}
        and not path.is_relative_to(root / BASELINE)
    }
    stale = [
        name
        for name, text in expected.items()
        if not (root / name).is_file() or (root / name).read_text() != text
    ]
    return sorted(stale + sorted(present - expected.keys()))


def write(root: Path, expected: dict[str, str]) -> None:
    for name in differences(root, expected):
        path = root / name
        if name in expected:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(expected[name])
        else:
            path.unlink()


def snapshot(files: Mapping[str, str]) -> dict[str, Message]:
    """The messages of one set of schema files (named from their folder, with `routes.json`)."""
    routes = json.loads(files[ROUTES])
    return {
        name.removesuffix(".json"): Message(
            schema=json.loads(files[name]),
            direction=route["direction"],
            exchange=route["exchange"],
            routing_keys=tuple(route["routing_keys"]),
        )
        for name, route in routes.items()
    }


def changes_since_baseline(root: Path, expected: dict[str, str]) -> list[Change]:
    """Every difference between the baseline and the files `expected` holds, classified."""
    baseline_dir = root / BASELINE
    baseline = {
        path.relative_to(baseline_dir).as_posix(): path.read_text()
        for path in baseline_dir.rglob("*.json")
    }
    prefix = f"{SCHEMAS}/"
    current = {
        name.removeprefix(prefix): text
        for name, text in expected.items()
        if name.startswith(prefix) and name.endswith(".json")
    }
    return compare(snapshot(baseline), snapshot(current))


def breaking_report(root: Path, expected: dict[str, str]) -> list[str]:
    """One line per change that breaks the baseline's users, and a closing hint; [] if none."""
    breaking = [str(c) for c in changes_since_baseline(root, expected) if c.breaking]
    if not breaking:
        return []
    return [
        *breaking,
        f"{len(breaking)} breaking change(s) since the last release ({BASELINE}/): ship each "
        "as a new version beside the old one, which stays unchanged",
    ]


def check(root: Path, expected: dict[str, str]) -> list[str]:
    """What stops a release: breaking changes, then generated files that are out of date."""
    stale = [f"out of date: {name}" for name in differences(root, expected)]
    return breaking_report(root, expected) + stale
