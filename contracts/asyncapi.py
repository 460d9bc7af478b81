"""The AsyncAPI 3.0 document of the whole topology (`contracts/schemas/asyncapi.yaml`): every
command, event, delivery and hook as channels and operations with AMQP bindings, each message
pointing at its JSON Schema file (see `contracts.export`) and carrying an example."""

from typing import Any

from contracts import catalog
from contracts.examples import event_example, example, reply_example
from contracts.hooks import v1 as hooks_v1
from contracts.topology import (
    DEFAULT_EXCHANGE,
    DEFAULT_NAMESPACE,
    IDEMPOTENCY_HEADER,
    REPLY_TO,
    Topology,
    hook_routing_key,
)
from contracts.verification.v1 import Delivery

TITLE = "Gatehouse"

VERSION = "1.0.0"


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
        exchange = topology.command_exchange(command)
        user_id = (
            " and the AMQP `user_id` property (your RabbitMQ user: it names the actor in the "
            "audit trail)"
            if exchange == topology.admin
            else ""
        )
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
            "description": f"{command.summary} Publish to `{exchange}` with this "
            f"routing key, `reply_to` `{REPLY_TO}`, a `correlation_id`{user_id}; an "
            f"`{IDEMPOTENCY_HEADER}` header is optional.",
            "messages": {"request": _ref("components/messages", request_id)},
            "bindings": _on_exchange(exchange),
        }
        channels[f"{key}.queue"] = {
            "address": queue,
            "description": "The durable queue of the service that answers it, bound to "
            f"`{exchange}` with routing key `{key}`; a message that keeps failing "
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
            f"`{key}.<priority>.<name>`, announce it with `identity.register_hook.v2`, and "
            f"answer each request on `{topology.workers}` with its `reply_to` as routing key.",
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


def document(namespace: str = DEFAULT_NAMESPACE) -> dict[str, Any]:
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
