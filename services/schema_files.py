"""Rendering `contracts/schemas/` from the contracts, and comparing with what is committed."""

import json
from pathlib import Path

import yaml

from contracts import export

ASYNCAPI = "asyncapi.yaml"


class _NoAliases(yaml.SafeDumper):
    """Examples share objects; spelled out, the document needs no YAML anchors to read."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def render() -> dict[str, str]:
    files = {
        name: json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        for name, schema in export.json_schemas().items()
    }
    files[ASYNCAPI] = yaml.dump(
        export.asyncapi(), Dumper=_NoAliases, sort_keys=False, allow_unicode=True
    )
    return files


def differences(target: Path, expected: dict[str, str]) -> list[str]:
    """Names of files missing, changed, or present but no longer generated."""
    present = {
        str(p.relative_to(target))
        for p in target.rglob("*")
        if p.is_file() and p.suffix in {".json", ".yaml"}
    }
    stale = [
        name
        for name, text in expected.items()
        if not (target / name).is_file() or (target / name).read_text() != text
    ]
    return sorted(stale + sorted(present - expected.keys()))


def write(target: Path, expected: dict[str, str]) -> None:
    for name in differences(target, expected):
        path = target / name
        if name in expected:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(expected[name])
        else:
            path.unlink()
