"""Every exchange, queue and routing key Gatehouse uses. No other module spells a name.

All names are prefixed by a namespace (`GATEHOUSE_NAMESPACE`, default `gatehouse`) so that
several installations, or test runs, share one broker without seeing each other.
"""

import builtins
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from contracts.errors import ErrorCode

DEFAULT_NAMESPACE = "gatehouse"

COMMANDS = "commands"
# Operator commands: an exchange of their own, so that RabbitMQ's permissions can grant
# publishing to it to trusted users only (docs/operations/broker-users.md).
ADMIN = "admin"
# Service-to-service commands no caller may send (identity redeeming a sign-in code, a
# security mail): only Gatehouse's own services may publish to it.
INTERNAL = "internal"
# What hook and custom-channel workers send: their announcements and their replies to hook
# calls. Workers may publish here and nowhere else (services.ops.namespace.permissions).
WORKERS = "workers"
EVENTS = "events"
DELIVERY = "delivery"
HOOKS = "hooks"
DEAD_LETTER = "dlx"
HOOK_REPLIES = "hook-replies"
# What hook and channel workers' own queues are called: `<ns>.hook.<trigger>.<name>`,
# `<ns>.channel.<name>` (and its `.dlq`).
HOOK_QUEUES = "hook"
CHANNEL_QUEUES = "channel"

REPLY_TO = "amq.rabbitmq.reply-to"
DEFAULT_EXCHANGE = ""  # AMQP's nameless direct exchange: routing key = queue name
IDEMPOTENCY_HEADER = "idempotency-key"

DELIVERY_EMAIL = "email"
DELIVERY_SMS = "sms"
CUSTOM_PREFIX = "custom."


Req = TypeVar("Req", bound=BaseModel)
Res = TypeVar("Res", bound=BaseModel)
Data = TypeVar("Data", bound=BaseModel)


@dataclass(frozen=True)
class Command(Generic[Req, Res]):
    """One RPC command: `<service>.<name>.v<version>` on the commands exchange, taking a
    `Req` and answering a `Res`."""

    service: str
    name: str
    version: int
    request: type[Req]
    result: type[Res]
    summary: str
    errors: tuple[ErrorCode, ...] = ()
    # True when a successful reply carries a secret (a session or remember token): an
    # idempotent replay then must not be answered from a stored copy of it.
    secret_reply: bool = False
    # True when running the command twice changes nothing a caller could tell apart (a
    # lookup; authenticate's sliding expiry): its reply is not recorded per message id.
    read_only: bool = False
    # The kind of exchange it is published to: `commands`, `admin` for operator commands,
    # `internal` for commands between Gatehouse's services, `workers` for workers' own.
    exchange: str = COMMANDS
    # The Monaca status of an error where this command's seed names another than the code's
    # usual one (`token_invalid` of `reset_password_with_token` is -32602, seed 004): pairs,
    # so that a command stays hashable. The code callers switch on never changes.
    statuses: tuple[tuple[ErrorCode, int], ...] = ()

    @property
    def routing_key(self) -> str:
        return f"{self.service}.{self.name}.v{self.version}"

    def status_of(self, code: ErrorCode) -> int:
        """The `status` this command answers `code` with."""
        return dict(self.statuses).get(code, code.status)


@dataclass(frozen=True)
class Event(Generic[Data]):
    """One lifecycle event: `<noun>.<past tense>.v<version>` on the events exchange, whose
    CloudEvent carries a `Data`."""

    type: str
    version: int
    data: builtins.type[Data]  # `type` is the field above in this class's scope
    summary: str
    publisher: str

    @property
    def routing_key(self) -> str:
        return f"{self.type}.v{self.version}"


@dataclass(frozen=True)
class Topology:
    """Names for one namespace."""

    namespace: str = DEFAULT_NAMESPACE

    def exchange(self, kind: str) -> str:
        return f"{self.namespace}.{kind}"

    def exchanges(self) -> tuple[str, ...]:
        """The topic exchanges every service declares (declaring is idempotent)."""
        return tuple(
            self.exchange(kind)
            for kind in (COMMANDS, ADMIN, INTERNAL, WORKERS, EVENTS, DELIVERY, HOOKS)
        )

    def declared_exchanges(self) -> tuple[str, ...]:
        """Every exchange a namespace declares: the topic ones and the dead-letter exchange."""
        return (*self.exchanges(), self.dead_letter)

    @property
    def commands(self) -> str:
        return self.exchange(COMMANDS)

    @property
    def admin(self) -> str:
        return self.exchange(ADMIN)

    @property
    def internal(self) -> str:
        return self.exchange(INTERNAL)

    @property
    def workers(self) -> str:
        return self.exchange(WORKERS)

    def command_exchange(self, command: Command[Any, Any]) -> str:
        """Where `command` is published: the commands exchange, or the admin exchange."""
        return self.exchange(command.exchange)

    def exchange_for(self, routing_key: str) -> str:
        """The exchange of a command known only by its routing key (`gatehouse call`):
        `admin.<command>.v<N>` is on the admin exchange, everything else on commands."""
        return self.admin if routing_key.startswith(f"{ADMIN}.") else self.commands

    @property
    def events(self) -> str:
        return self.exchange(EVENTS)

    @property
    def delivery(self) -> str:
        return self.exchange(DELIVERY)

    @property
    def hooks(self) -> str:
        return self.exchange(HOOKS)

    @property
    def dead_letter(self) -> str:
        return self.exchange(DEAD_LETTER)

    def command_queue(self, routing_key: str) -> str:
        return f"{self.namespace}.{routing_key}"

    def dead_letter_queue(self, queue: str) -> str:
        return f"{queue}.dlq"

    def consumer_queue(self, service: str, purpose: str) -> str:
        """A service's own queue on a shared exchange, e.g. `gatehouse.notifier.email`."""
        return f"{self.namespace}.{service}.{purpose}"

    def delay_queue(self, queue: str, delay_ms: int) -> str:
        return f"{queue}.delay.{delay_ms}"

    @property
    def hook_replies_prefix(self) -> str:
        """Identity's hook reply queues: `<prefix><random>`, exclusive, each bound to the
        workers exchange under its own name, which hook calls carry as `reply_to`. Hook
        workers answer there, not through the default exchange they may not publish to."""
        return self.consumer_queue("identity", f"{HOOK_REPLIES}.")

    def hook_queue(self, trigger: str, name: str) -> str:
        """A hook worker's own queue for one hook, on the hooks exchange."""
        return self.consumer_queue(HOOK_QUEUES, f"{trigger}.{name}")

    def channel_queue(self, channel: str) -> str:
        """The work queue of custom channel `channel`; it has a `.dlq` like every work queue."""
        return self.consumer_queue(CHANNEL_QUEUES, channel)


def delivery_routing_key(channel: str) -> str:
    """`email` and `sms` are built in; any other channel name is a custom consumer."""
    if channel in (DELIVERY_EMAIL, DELIVERY_SMS):
        return channel
    return f"{CUSTOM_PREFIX}{channel}"


def hook_routing_key(trigger: str, version: int = 1) -> str:
    return f"hooks.{trigger}.v{version}"
