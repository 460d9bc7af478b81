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
from contracts.identity import v1 as identity_v1
from contracts.topology import (
    CUSTOM_PREFIX,
    DEFAULT_NAMESPACE,
    DELIVERY_EMAIL,
    DELIVERY_SMS,
    IDEMPOTENCY_HEADER,
    REPLY_TO,
    Command,
    Event,
    Topology,
    hook_routing_key,
)
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
            "exchange": topology.commands,
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


def event_example(event: Event) -> dict[str, Any]:
    """A whole CloudEvent as a consumer receives it, around the data's example."""
    return {
        "specversion": "1.0",
        "id": "6f1c0b3e-8a56-4d9e-9f59-0d2b8e1f7a10",
        "source": f"gatehouse/{event.publisher}",
        "type": event.routing_key,
        "time": EXAMPLE_TIME,
        "subject": "u_8Zk3",
        "datacontenttype": "application/json",
        "data": example(event.data),
    }


def reply_example(command: Command) -> dict[str, Any]:
    return {"ok": True, "result": example(command.result)}


def _message(name: str, file: str, summary: str, payload_example: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "summary": summary,
        "contentType": "application/json",
        "payload": {"$ref": f"./{file}"},
        "examples": [{"payload": payload_example}],
    }


# AMQP bindings 0.3.0 let a channel be a routing key on an exchange or a queue, never both.
# So a command is two channels: the routing key a caller publishes to, with the caller's `send`
# operation, and the queue the owning service consumes, with the service's `receive`
# operation; the queue channel says which routing key binds it. Replies travel on a channel
# of their own, the caller's direct reply-to.
AMQP_BINDINGS = "0.3.0"
DEFAULT_EXCHANGE = ""  # AMQP's nameless direct exchange: routing key = queue name


def _on_exchange(name: str, kind: str = "topic") -> dict[str, Any]:
    exchange = {"name": name, "type": kind, "durable": True, "autoDelete": False, "vhost": "/"}
    return {"amqp": {"is": "routingKey", "exchange": exchange, "bindingVersion": AMQP_BINDINGS}}


def _queue(name: str) -> dict[str, Any]:
    queue = {"name": name, "durable": True, "exclusive": False, "autoDelete": False, "vhost": "/"}
    return {"amqp": {"is": "queue", "queue": queue, "bindingVersion": AMQP_BINDINGS}}


def _publish(**fields: Any) -> dict[str, Any]:
    """Operation bindings: how a message is published (`mandatory`, `deliveryMode`) or taken."""
    return {"amqp": {**fields, "bindingVersion": AMQP_BINDINGS}}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/{kind}/{name}"}


def _reply_channel(message_id: str) -> dict[str, Any]:
    return {
        "address": None,
        "description": f"Direct reply-to: the caller consumes the pseudo-queue `{REPLY_TO}` "
        "(no-ack) and names it in the request's `reply_to`; the reply is published to the "
        "default exchange with that `reply_to` as routing key and the request's "
        "`correlation_id`.",
        "messages": {"reply": _ref("components/messages", message_id)},
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {"name": DEFAULT_EXCHANGE, "type": "default", "vhost": "/"},
                "bindingVersion": AMQP_BINDINGS,
            }
        },
    }


def _reply(channel_id: str) -> dict[str, Any]:
    return {
        "channel": _ref("channels", channel_id),
        "address": {
            "description": f"The request's `reply_to` (`{REPLY_TO}`).",
            "location": "$message.header#/reply_to",
        },
    }


def _commands(topology: Topology, document: dict[str, dict[str, Any]]) -> None:
    channels, operations, messages = (document[k] for k in ("channels", "operations", "messages"))
    for command in catalog.COMMANDS:
        key = command.routing_key
        queue = topology.command_queue(key)
        request_id, reply_id = f"{key}.request", f"{key}.reply"
        errors = ", ".join(e.value for e in command.errors) or "none"
        messages[request_id] = _message(
            request_id, f"commands/{key}.request.json", command.summary, example(command.request)
        )
        messages[reply_id] = _message(
            reply_id,
            f"commands/{key}.reply.json",
            f"Reply to {key}; errors: {errors}",
            reply_example(command),
        )
        channels[key] = {
            "address": key,
            "description": f"{command.summary} Publish to `{topology.commands}` with this "
            f"routing key, `reply_to` `{REPLY_TO}` and a `correlation_id`; an "
            f"`{IDEMPOTENCY_HEADER}` header is optional.",
            "messages": {"request": _ref("components/messages", request_id)},
            "bindings": _on_exchange(topology.commands),
        }
        channels[f"{key}.queue"] = {
            "address": queue,
            "description": f"The {command.service} service's durable queue, bound to "
            f"`{topology.commands}` with routing key `{key}`; a message that keeps failing "
            f"goes to `{topology.dead_letter_queue(queue)}`.",
            "messages": {"request": _ref("components/messages", request_id)},
            "bindings": _queue(queue),
        }
        channels[f"{key}.reply"] = _reply_channel(reply_id)
        operations[f"call.{key}"] = {
            "action": "send",
            "channel": _ref("channels", key),
            "summary": f"Call {key} and wait for the reply",
            "description": "Published `mandatory`: with no queue bound (an unknown command "
            "or version) the broker returns it and the caller answers `unknown_command`.",
            "bindings": _publish(mandatory=True),
            "reply": _reply(f"{key}.reply"),
        }
        operations[key] = {
            "action": "receive",
            "channel": _ref("channels", f"{key}.queue"),
            "summary": command.summary,
            "bindings": _publish(ack=True),
            "reply": _reply(f"{key}.reply"),
        }


def _events(topology: Topology, document: dict[str, dict[str, Any]]) -> None:
    channels, operations, messages = (document[k] for k in ("channels", "operations", "messages"))
    for event in catalog.EVENTS:
        key = event.routing_key
        messages[key] = _message(key, f"events/{key}.json", event.summary, event_example(event))
        channels[key] = {
            "address": key,
            "description": f"{event.summary} Bind your own queue to `{topology.events}` with "
            "this routing key or a pattern such as `user.#`.",
            "messages": {"event": _ref("components/messages", key)},
            "bindings": _on_exchange(topology.events),
        }
        operations[f"publish.{key}"] = {
            "action": "send",
            "channel": _ref("channels", key),
            "summary": f"{event.publisher} publishes {key} through its outbox",
            "description": "Persistent, with publisher confirms, at least once: dedupe by `id` "
            "(also the AMQP `message_id`).",
            "bindings": _publish(deliveryMode=2, mandatory=False),
        }


def _delivery(topology: Topology, document: dict[str, dict[str, Any]]) -> None:
    document["messages"]["delivery"] = _message(
        "delivery", "delivery/delivery.json", Delivery.__doc__ or "", example(Delivery)
    )
    document["channels"]["delivery"] = {
        "address": "{channel}",
        "description": f"Code deliveries on `{topology.delivery}`: routing key `email` or "
        "`sms` (the notifier's queues), or `custom.<name>` (bind your own queue to consume a "
        "custom channel).",
        "parameters": {
            "channel": {
                "description": "`email`, `sms` or `custom.<name>`",
                "examples": ["email", "sms", "custom.twilio-sms"],
            }
        },
        "messages": {"delivery": _ref("components/messages", "delivery")},
        "bindings": _on_exchange(topology.delivery),
    }
    document["operations"]["deliver.code"] = {
        "action": "send",
        "channel": _ref("channels", "delivery"),
        "summary": "verification publishes a code delivery (mandatory, confirmed)",
        "description": "With no queue bound to the routing key, `send_code` answers "
        "`delivery_unavailable` instead of losing the code.",
        "bindings": _publish(deliveryMode=2, mandatory=True),
    }


def _hooks(topology: Topology, document: dict[str, dict[str, Any]]) -> None:
    channels, operations, messages = (document[k] for k in ("channels", "operations", "messages"))
    for trigger in hooks_v1.Trigger:
        key = hook_routing_key(trigger.value, hooks_v1.VERSION)
        channels[key] = {
            "address": f"{key}.{{priority}}.{{name}}",
            "description": f"identity calls each bound {trigger.value} hook in priority order "
            "(RPC, mandatory publish, per-trigger timeout and fail-open/closed policy). Bind "
            f"your hook's queue to `{topology.hooks}` with routing key "
            f"`{key}.<priority>.<name>`, announce it with `identity.register_hook.v1`, and "
            "answer each request at its `reply_to`.",
            "parameters": {
                "priority": {"description": "three digits, lower runs first"},
                "name": {"description": "the hook's name"},
            },
            "messages": {"request": _ref("components/messages", "hook.request")},
            "bindings": _on_exchange(topology.hooks),
        }
        channels[f"{key}.reply"] = _reply_channel("hook.reply")
        operations[f"call.{key}"] = {
            "action": "send",
            "channel": _ref("channels", key),
            "summary": f"identity asks the {trigger.value} hooks for operations",
            "bindings": _publish(mandatory=True),
            "reply": _reply(f"{key}.reply"),
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


def asyncapi(namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any]:
    topology = Topology(namespace)
    document: dict[str, dict[str, Any]] = {"channels": {}, "operations": {}, "messages": {}}
    _commands(topology, document)
    _events(topology, document)
    _delivery(topology, document)
    _hooks(topology, document)
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
        "channels": document["channels"],
        "operations": document["operations"],
        "components": {"messages": document["messages"]},
    }
