"""The committed contract files (schemas, AsyncAPI, docs/reference.md) are exactly what the
contracts generate, nothing breaks the users of the last release, and every message has an
example that its own model accepts."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from contracts import asyncapi, catalog, examples, export
from services.schemas import schema_files

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schemas_match_the_contracts():
    stale = schema_files.differences(ROOT, schema_files.render())
    assert not stale, f"run `gatehouse schemas` and commit: {stale}"


def test_the_reference_page_is_generated():
    assert schema_files.REFERENCE in schema_files.render()


def test_every_schema_file_has_a_route():
    assert export.routes().keys() == export.json_schemas().keys()


def test_nothing_breaks_the_users_of_the_last_release():
    changes = schema_files.changes_since_baseline(ROOT, schema_files.render())
    assert [str(c) for c in changes if c.breaking] == []


def _with_login_request(edit) -> dict[str, str]:
    """The generated files with a deliberate edit of the login request's schema."""
    files = schema_files.render()
    name = f"{schema_files.SCHEMAS}/commands/identity.login.v1.request.json"
    schema = json.loads(files[name])
    edit(schema)
    return {**files, name: json.dumps(schema, indent=2, sort_keys=True) + "\n"}


def test_the_release_check_fails_on_a_removed_field_and_names_it():
    files = _with_login_request(lambda s: s["properties"].pop("phone"))
    problems = schema_files.check(ROOT, files)
    assert problems[0] == (
        "breaking: commands/identity.login.v1.request field `phone`: field removed or renamed"
    )
    assert problems[1].startswith("1 breaking change(s) since the last release")
    assert problems[2:] == [
        f"out of date: {schema_files.SCHEMAS}/commands/identity.login.v1.request.json"
    ]


def test_the_release_check_lets_an_optional_field_through():
    files = _with_login_request(lambda s: s["properties"].update(tenant={"type": "string"}))
    assert schema_files.breaking_report(ROOT, files) == []


def test_gatehouse_schemas_check_passes_on_the_committed_files():
    done = subprocess.run(
        [sys.executable, "-c", "from services.cli import main; main()", "schemas", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, "")


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    # Generated once for the module: each generation walks every contract (about half a
    # second), and the parametrized tests below only read it.
    return export.json_schemas()


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi.document()


@pytest.mark.parametrize("command", catalog.COMMANDS, ids=lambda c: c.routing_key)
def test_every_command_has_examples_its_models_accept(command, schemas):
    request = examples.example(command.request)
    command.request.model_validate(request)
    jsonschema.validate(request, schemas[f"commands/{command.routing_key}.request.json"])
    result = examples.example(command.result)
    command.result.model_validate(result)
    reply_schema = schemas[f"commands/{command.routing_key}.reply.json"]
    jsonschema.validate({"ok": True, "result": result}, reply_schema)
    error = {
        "ok": False,
        "error": {"code": "invalid_params", "status": -32602, "message": "x", "details": {}},
    }
    jsonschema.validate(error, reply_schema)


@pytest.mark.parametrize("event", catalog.EVENTS, ids=lambda e: e.routing_key)
def test_every_event_has_an_example_its_schema_accepts(event, schemas, document):
    example = document["components"]["messages"][event.routing_key]["examples"][0]["payload"]
    jsonschema.validate(example, schemas[f"events/{event.routing_key}.json"])


def test_asyncapi_names_every_command_and_event():
    document = asyncapi.document()
    for command in catalog.COMMANDS:
        assert command.routing_key in document["operations"]
    for event in catalog.EVENTS:
        assert event.routing_key in document["channels"]
    assert document["asyncapi"].startswith("3.")


def test_commands_are_never_named_twice():
    keys = [c.routing_key for c in catalog.COMMANDS]
    assert len(keys) == len(set(keys))
