"""JSON Schema per message and an AsyncAPI 3.0 document of the whole topology.

`gatehouse schemas` writes them to `contracts/schemas/`; a test fails when the committed files
differ from what this module generates, so every contract change shows up in review.
"""

from datetime import datetime
from enum import Enum
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from contracts import catalog
from contracts.envelope import CloudEvent, ErrorReply
from contracts.hooks import v1 as hooks_v1
from contracts.topology import DEFAULT_NAMESPACE, Command, Event, Topology
from contracts.verification.v1 import Delivery

EXAMPLE_TIME = "2026-01-01T12:00:00Z"
TITLE = "Gatehouse"
VERSION = "1.0.0"


def _schema(model: type[BaseModel], title: str | None = None) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    if title:
        schema["title"] = title
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def _reply_schema(command: Command) -> dict[str, Any]:
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


def _event_schema(event: Event) -> dict[str, Any]:
    model = CloudEvent[event.data]  # type: ignore[name-defined]
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
    return files


def example(model: type[BaseModel]) -> dict[str, Any]:
    """The model's own example, or one assembled from its fields' examples."""
    examples = (model.model_config.get("json_schema_extra") or {}).get("examples")  # type: ignore[union-attr]
    if examples:
        return examples[0]
    assembled: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        if field.examples:
            assembled[key] = field.examples[0]
        elif (nested := _model_in(field.annotation)) is not None:
            value = example(nested)
            assembled[key] = [value] if _is_list(field.annotation) else value
        elif field.is_required():
            assembled[key] = _plain_example(model, name, field.annotation)
    return assembled


def _plain_example(model: type[BaseModel], name: str, annotation: Any) -> Any:
    """Examples for fields whose type says it all (timestamps, flags, enums, maps)."""
    if annotation is datetime:
        return EXAMPLE_TIME
    if annotation is bool:
        return True
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return next(iter(annotation)).value
    if get_origin(annotation) is dict:
        return {}
    raise LookupError(f"{model.__name__}.{name} has no example")


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if (found := _model_in(arg)) is not None:
            return found
    return None


def _is_list(annotation: Any) -> bool:
    return get_origin(annotation) is list or any(_is_list(a) for a in get_args(annotation))


def _message(name: str, file: str, summary: str, payload_example: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "summary": summary,
        "contentType": "application/json",
        "payload": {"$ref": f"./{file}"},
        "examples": [{"payload": payload_example}],
    }


def asyncapi(namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any]:
    topology = Topology(namespace)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}

    def amqp_binding(exchange: str, queue: str | None = None) -> dict[str, Any]:
        binding: dict[str, Any] = {
            "is": "routingKey",
            "exchange": {"name": exchange, "type": "topic", "durable": True, "vhost": "/"},
        }
        if queue:
            binding["queue"] = {"name": queue, "durable": True, "vhost": "/"}
        return {"amqp": binding}

    for command in catalog.COMMANDS:
        key = command.routing_key
        request_id, reply_id = f"{key}.request", f"{key}.reply"
        messages[request_id] = _message(
            request_id, f"commands/{key}.request.json", command.summary, example(command.request)
        )
        messages[reply_id] = _message(
            reply_id,
            f"commands/{key}.reply.json",
            f"Reply to {key}; errors: {', '.join(e.value for e in command.errors) or 'none'}",
            {"ok": True, "result": example(command.result)},
        )
        channels[key] = {
            "address": key,
            "description": command.summary,
            "messages": {"request": {"$ref": f"#/components/messages/{request_id}"}},
            "bindings": amqp_binding(topology.commands, topology.command_queue(key)),
        }
        channels[f"{key}.reply"] = {
            "address": None,
            "description": "RabbitMQ direct reply-to (amq.rabbitmq.reply-to)",
            "messages": {"reply": {"$ref": f"#/components/messages/{reply_id}"}},
        }
        operations[key] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": command.summary,
            "reply": {
                "channel": {"$ref": f"#/channels/{key}.reply"},
                "address": {"location": "$message.header#/reply_to"},
            },
        }
    for event in catalog.EVENTS:
        key = event.routing_key
        messages[key] = _message(
            key,
            f"events/{key}.json",
            event.summary,
            {
                "specversion": "1.0",
                "id": "6f1c0b3e-8a56-4d9e-9f59-0d2b8e1f7a10",
                "source": f"gatehouse/{event.publisher}",
                "type": key,
                "time": "2026-01-01T12:00:00Z",
                "subject": "u_8Zk3",
                "datacontenttype": "application/json",
                "data": example(event.data),
            },
        )
        channels[key] = {
            "address": key,
            "description": event.summary,
            "messages": {"event": {"$ref": f"#/components/messages/{key}"}},
            "bindings": amqp_binding(topology.events),
        }
        operations[f"publish.{key}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"{event.publisher} publishes {key} through its outbox",
        }
    messages["delivery"] = _message(
        "delivery", "delivery/delivery.json", Delivery.__doc__ or "", example(Delivery)
    )
    channels["delivery"] = {
        "address": "{channel}",
        "description": "Code deliveries: `email`, `sms` (notifier) or `custom.<name>`.",
        "parameters": {"channel": {"description": "email, sms or custom.<name>"}},
        "messages": {"delivery": {"$ref": "#/components/messages/delivery"}},
        "bindings": amqp_binding(topology.delivery),
    }
    for trigger in hooks_v1.Trigger:
        key = f"hooks.{trigger.value}.v{hooks_v1.VERSION}"
        channels[key] = {
            "address": f"{key}.{{priority}}.{{name}}",
            "description": f"identity calls each bound {trigger.value} hook in priority order "
            "(RPC, mandatory publish, per-trigger timeout and fail-open/closed policy)",
            "parameters": {
                "priority": {"description": "three digits, lower runs first"},
                "name": {"description": "the hook's name"},
            },
            "messages": {
                "request": {"$ref": "#/components/messages/hook.request"},
                "reply": {"$ref": "#/components/messages/hook.reply"},
            },
            "bindings": amqp_binding(topology.hooks),
        }
        operations[f"call.{key}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"identity asks the {trigger.value} hooks for operations",
        }
    messages["hook.request"] = {
        "name": "hook.request",
        "contentType": "application/json",
        "payload": {"$ref": "./hooks/request.json"},
    }
    messages["hook.reply"] = {
        "name": "hook.reply",
        "contentType": "application/json",
        "payload": {"$ref": "./hooks/reply.json"},
        "examples": [
            {
                "payload": {
                    "operations": [
                        {
                            "op": "access.deny",
                            "reason": "email not verified",
                            "user_message": "Please verify your email first",
                        }
                    ]
                }
            }
        ],
    }
    operations["deliver.code"] = {
        "action": "send",
        "channel": {"$ref": "#/channels/delivery"},
        "summary": "verification publishes a code delivery (mandatory, confirmed)",
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "User identity over RabbitMQ. Commands are RPC over direct "
            "reply-to with an `idempotency-key` header option; events are CloudEvents 1.0. "
            f"Names shown for the default namespace `{DEFAULT_NAMESPACE}`.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {"host": "localhost:5672", "protocol": "amqp", "protocolVersion": "0.9.1"}
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }
