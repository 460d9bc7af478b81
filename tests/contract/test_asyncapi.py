"""`contracts/schemas/asyncapi.yaml` is valid against the AsyncAPI 3.0 specification's own JSON
Schema (AMQP bindings 0.3.0 included), as vendored from `@asyncapi/specs` in tests/data/, and
still tells a caller which exchange, routing key and queue each message uses."""

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from jsonschema.exceptions import best_match
from referencing import Registry
from referencing.jsonschema import DRAFT7

from contracts import catalog
from contracts.topology import Topology

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "contracts" / "schemas"
# The bundle the official JavaScript parser validates 3.0.0 documents with
# (`require('@asyncapi/specs').schemas['3.0.0']`): every definition, bindings included, is
# embedded under its own `$id`, so one registry resource resolves every `$ref` offline.
SPEC = json.loads((ROOT / "tests" / "data" / "asyncapi-specs" / "3.0.0.json").read_text())
DOCUMENT: dict[str, Any] = yaml.safe_load((SCHEMAS / "asyncapi.yaml").read_text())
TOPOLOGY = Topology()


def _validator() -> jsonschema.Draft7Validator:
    registry: Registry[Any] = Registry().with_resource(SPEC["$id"], DRAFT7.create_resource(SPEC))
    return jsonschema.Draft7Validator(
        SPEC, registry=registry.crawl(), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )


def _with_payload_files(node: Any) -> Any:
    """The document as the official parser checks it: external `$ref`s (the payload schema
    files) replaced by the files' contents, so each payload is validated as a schema too."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("./"):
            return json.loads((SCHEMAS / ref).read_text())
        return {key: _with_payload_files(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_with_payload_files(item) for item in node]
    return node


def _errors(document: dict[str, Any]) -> list[str]:
    """One line per error, naming the innermost failing part (oneOf/anyOf hide it otherwise)."""
    lines = []
    for error in _validator().iter_errors(document):
        leaf = best_match([error])
        lines.append(f"{'.'.join(map(str, leaf.absolute_path))}: {leaf.message[:200]}")
    return lines


def test_the_document_is_valid_asyncapi_3():
    assert _errors(DOCUMENT) == []


def test_the_document_with_its_payload_schemas_resolved_is_valid_asyncapi_3():
    assert _errors(_with_payload_files(DOCUMENT)) == []


def test_the_validator_rejects_a_command_channel_that_is_both_routing_key_and_queue():
    document = json.loads(json.dumps(DOCUMENT))
    key = catalog.COMMANDS[0].routing_key
    document["channels"][key]["bindings"]["amqp"]["queue"] = {"name": "q"}
    assert _errors(document)


def _channel(ref: dict[str, str]) -> dict[str, Any]:
    return DOCUMENT["channels"][ref["$ref"].removeprefix("#/channels/")]


@pytest.mark.parametrize("command", catalog.COMMANDS, ids=lambda c: c.routing_key)
def test_a_command_says_its_exchange_routing_key_queue_and_reply(command):
    key = command.routing_key
    call = DOCUMENT["operations"][f"call.{key}"]
    serve = DOCUMENT["operations"][key]
    assert (call["action"], serve["action"]) == ("send", "receive")

    sent_to = _channel(call["channel"])
    assert sent_to["address"] == key
    assert sent_to["bindings"]["amqp"]["is"] == "routingKey"
    # Operator and internal commands have an exchange of their own, so that permissions can
    # restrict it.
    exchange = TOPOLOGY.exchange(command.exchange)
    assert (exchange == TOPOLOGY.admin) == key.startswith("admin.")
    assert sent_to["bindings"]["amqp"]["exchange"]["name"] == exchange
    assert call["bindings"]["amqp"]["mandatory"] is True

    queue = _channel(serve["channel"])
    assert queue["address"] == TOPOLOGY.command_queue(key)
    assert queue["bindings"]["amqp"]["is"] == "queue"
    assert queue["bindings"]["amqp"]["queue"]["name"] == TOPOLOGY.command_queue(key)

    for operation in (call, serve):
        reply = _channel(operation["reply"]["channel"])
        assert reply["address"] is None  # the request's reply_to names it
        assert reply["bindings"]["amqp"]["exchange"]["type"] == "default"
        assert set(reply["messages"]) == {"reply"}


@pytest.mark.parametrize("event", catalog.EVENTS, ids=lambda e: e.routing_key)
def test_an_event_says_its_exchange_and_routing_key(event):
    channel = DOCUMENT["channels"][event.routing_key]
    assert channel["address"] == event.routing_key
    assert channel["bindings"]["amqp"]["exchange"]["name"] == TOPOLOGY.events
    publish = DOCUMENT["operations"][f"publish.{event.routing_key}"]
    assert publish["bindings"]["amqp"]["deliveryMode"] == 2  # persistent


def test_deliveries_and_hooks_say_their_exchange_and_routing_key():
    delivery = DOCUMENT["channels"]["delivery"]
    assert delivery["bindings"]["amqp"]["exchange"]["name"] == TOPOLOGY.delivery
    assert DOCUMENT["operations"]["deliver.code"]["bindings"]["amqp"]["mandatory"] is True
    for name, operation in DOCUMENT["operations"].items():
        if name.startswith("call.hooks."):
            channel = _channel(operation["channel"])
            assert channel["bindings"]["amqp"]["exchange"]["name"] == TOPOLOGY.hooks
            assert channel["address"].startswith(name.removeprefix("call.") + ".")
            assert _channel(operation["reply"]["channel"])["address"] is None


def _examples() -> list[tuple[str, dict[str, Any], str]]:
    return [
        (name, example["payload"], message["payload"]["$ref"])
        for name, message in DOCUMENT["components"]["messages"].items()
        for example in message.get("examples", [])
    ]


@pytest.mark.parametrize(("name", "payload", "ref"), _examples(), ids=[e[0] for e in _examples()])
def test_every_message_example_matches_its_payload_schema(name, payload, ref):
    jsonschema.validate(payload, json.loads((SCHEMAS / ref).read_text()))
