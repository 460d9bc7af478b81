"""A service's table of what it serves: each command and event paired with its flow.

Every service's `handlers.py` is such a table and nothing else. `route()` and `on()` are
typed so that a flow must take its command's request model and return its result model (or
take its event's `CloudEvent`), and `serve()` wires the table to the running service with
the object the flows share (`IdentityService`, `VerificationService`, `NotifierService`).
"""

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from contracts.envelope import CloudEvent
from contracts.topology import Command, Data, Event, Req, Res
from services.runtime.service import Service
from services.runtime.work import UnitOfWork

Deps = TypeVar("Deps")


@dataclass(frozen=True)
class Route(Generic[Deps]):
    command: Command[Any, Any]
    flow: Callable[[Deps, UnitOfWork, Any], Awaitable[BaseModel]]


@dataclass(frozen=True)
class Subscription(Generic[Deps]):
    event: Event[Any]
    consumer: str  # names the service's durable queue for it: `<ns>.<service>.<consumer>`
    flow: Callable[[Deps, CloudEvent[Any]], Awaitable[None]]


def route(
    command: Command[Req, Res], flow: Callable[[Deps, UnitOfWork, Req], Awaitable[Res]]
) -> Route[Deps]:
    """`command` is answered by `flow(deps, uow, request)`: `uow` is the command's unit of
    work (`services.runtime.work`), whose commit records the reply with the effect."""
    return Route(command, flow)


def on(
    event: Event[Data], consumer: str, flow: Callable[[Deps, CloudEvent[Data]], Awaitable[None]]
) -> Subscription[Deps]:
    """`event` is consumed by `flow(deps, event)` from the queue named after `consumer`."""
    return Subscription(event, consumer, flow)


def serve(
    service: Service,
    deps: Deps,
    commands: Iterable[Route[Deps]],
    events: Iterable[Subscription[Deps]] = (),
) -> None:
    for served in commands:
        service.command(served.command, partial(served.flow, deps))
    for consumed in events:
        service.event(consumed.event, consumed.consumer, partial(consumed.flow, deps))
