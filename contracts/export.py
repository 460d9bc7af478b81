"""JSON Schema per message, and how each travels (`contracts/schemas/**/*.json`,
`routes.json`); the AsyncAPI document that ties them together is `contracts.asyncapi`.

`gatehouse schemas` writes them to `contracts/schemas/`; a test fails when the committed files
differ from what these modules generate, so every contract change shows up in review.
"""

from typing import Any

from pydantic import BaseModel

from contracts import catalog
from contracts.envelope import CloudEvent, ErrorReply
from contracts.hooks import v1 as hooks_v1
from contracts.identity import v1 as identity_v1
from contracts.topology import (
    CUSTOM_PREFIX,
    DEFAULT_EXCHANGE,
    DEFAULT_NAMESPACE,
    DELIVERY_EMAIL,
    DELIVERY_SMS,
    Command,
    Event,
    Topology,
    hook_routing_key,
)
from contracts.verification.v1 import Delivery


def _schema(model: type[BaseModel], title: str | None = None) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    if title:
        schema["title"] = title
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def _reply_schema(command: Command[Any, Any]) -> dict[str, Any]:
    result = command.result.model_json_schema(ref_template="#/$defs/{model}")
    defs = result.pop("$defs", {})
    error = ErrorReply.model_json_schema(ref_template="#/$defs/{model}")
    defs.update(error.pop("$defs", {}))
    defs[command.result.__name__] = result
    defs["ErrorReply"] = error
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{command.routing_key} reply",
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "ok": {"const": True},
                    "result": {"$ref": f"#/$defs/{command.result.__name__}"},
                },
                "required": ["ok", "result"],
                "additionalProperties": False,
            },
            {"$ref": "#/$defs/ErrorReply"},
        ],
        "$defs": defs,
    }


def _event_schema(event: Event[Any]) -> dict[str, Any]:
    # Parametrised at run time with the event's data class, which mypy cannot follow.
    model = CloudEvent[event.data]  # type: ignore[name-defined]  # see above
    return _schema(model, title=event.routing_key)


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name (relative to contracts/schemas/) → schema."""
    files: dict[str, dict[str, Any]] = {}
    for command in catalog.COMMANDS:
        files[f"commands/{command.routing_key}.request.json"] = _schema(
            command.request, title=f"{command.routing_key} request"
        )
        files[f"commands/{command.routing_key}.reply.json"] = _reply_schema(command)
    for event in catalog.EVENTS:
        files[f"events/{event.routing_key}.json"] = _event_schema(event)
    files["delivery/delivery.json"] = _schema(Delivery, title="code delivery")
    files["hooks/request.json"] = _schema(hooks_v1.HookRequest, title="hook request")
    files["hooks/reply.json"] = _schema(hooks_v1.HookReply, title="hook reply")
    files["tokens/access_token.json"] = _schema(
        identity_v1.AccessTokenClaims, title="access token claims"
    )
    return {name: _discriminator_names(schema) for name, schema in files.items()}


def routes(namespace: str = DEFAULT_NAMESPACE) -> dict[str, dict[str, Any]]:
    """Schema file → how its message travels: the exchange, the routing keys, and whether
    Gatehouse reads it (`in`: it may only come to accept more) or writes it (`out`)."""
    topology = Topology(namespace)
    reply = {"exchange": DEFAULT_EXCHANGE, "routing_keys": ["{reply_to}"]}
    files: dict[str, dict[str, Any]] = {}
    for command in catalog.COMMANDS:
        key = command.routing_key
        files[f"commands/{key}.request.json"] = {
            "direction": "in",
            "exchange": topology.command_exchange(command),
            "routing_keys": [key],
        }
        files[f"commands/{key}.reply.json"] = {"direction": "out", **reply}
    for event in catalog.EVENTS:
        files[f"events/{event.routing_key}.json"] = {
            "direction": "out",
            "exchange": topology.events,
            "routing_keys": [event.routing_key],
        }
    files["delivery/delivery.json"] = {
        "direction": "out",
        "exchange": topology.delivery,
        "routing_keys": [DELIVERY_EMAIL, DELIVERY_SMS, f"{CUSTOM_PREFIX}{{channel}}"],
    }
    files["hooks/request.json"] = {
        "direction": "out",
        "exchange": topology.hooks,
        "routing_keys": [
            f"{hook_routing_key(trigger.value, hooks_v1.VERSION)}.{{priority}}.{{name}}"
            for trigger in hooks_v1.Trigger
        ],
    }
    files["hooks/reply.json"] = {"direction": "in", **reply}
    # Not a broker message: the claims of the access tokens that replies carry, which other
    # services read, so the release check guards them like any message Gatehouse writes.
    files["tokens/access_token.json"] = {"direction": "out", "exchange": "", "routing_keys": []}
    return files


def _discriminator_names(node: Any) -> Any:
    """pydantic writes OpenAPI's `discriminator` object; AsyncAPI's Schema Object, as which
    AsyncAPI tools read these files, takes the property name only. JSON Schema ignores both."""
    if isinstance(node, dict):
        return {
            key: value["propertyName"]
            if key == "discriminator" and isinstance(value, dict)
            else _discriminator_names(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_discriminator_names(item) for item in node]
    return node
