"""The committed contract files are exactly what the contracts generate, and every message
has an example that its own model accepts."""

from pathlib import Path

import jsonschema
import pytest

from contracts import catalog, export
from services import schema_files

SCHEMAS = Path(__file__).resolve().parents[2] / "contracts" / "schemas"


def test_committed_schemas_match_the_contracts():
    stale = schema_files.differences(SCHEMAS, schema_files.render())
    assert not stale, f"run `gatehouse schemas` and commit: {stale}"


@pytest.mark.parametrize("command", catalog.COMMANDS, ids=lambda c: c.routing_key)
def test_every_command_has_examples_its_models_accept(command):
    request = export.example(command.request)
    command.request.model_validate(request)
    jsonschema.validate(
        request, export.json_schemas()[f"commands/{command.routing_key}.request.json"]
    )
    result = export.example(command.result)
    command.result.model_validate(result)
    reply_schema = export.json_schemas()[f"commands/{command.routing_key}.reply.json"]
    jsonschema.validate({"ok": True, "result": result}, reply_schema)
    error = {
        "ok": False,
        "error": {"code": "invalid_params", "status": -32602, "message": "x", "details": {}},
    }
    jsonschema.validate(error, reply_schema)


@pytest.mark.parametrize("event", catalog.EVENTS, ids=lambda e: e.routing_key)
def test_every_event_has_an_example_its_schema_accepts(event):
    document = export.asyncapi()
    example = document["components"]["messages"][event.routing_key]["examples"][0]["payload"]
    jsonschema.validate(example, export.json_schemas()[f"events/{event.routing_key}.json"])


def test_asyncapi_names_every_command_and_event():
    document = export.asyncapi()
    for command in catalog.COMMANDS:
        assert command.routing_key in document["operations"]
    for event in catalog.EVENTS:
        assert event.routing_key in document["channels"]
    assert document["asyncapi"].startswith("3.")


def test_commands_are_never_named_twice():
    keys = [c.routing_key for c in catalog.COMMANDS]
    assert len(keys) == len(set(keys))
