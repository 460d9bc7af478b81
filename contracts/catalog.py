"""Every versioned contract Gatehouse serves, in one list: the source of the schema files."""

from typing import Any

from contracts.admin import v1 as admin_v1
from contracts.events import v1 as events_v1
from contracts.hooks import v1 as hooks_v1
from contracts.identity import v1 as identity_v1
from contracts.identity import v2 as identity_v2
from contracts.notifier import v1 as notifier_v1
from contracts.topology import Command, Event
from contracts.verification import v1 as verification_v1

COMMANDS: tuple[Command[Any, Any], ...] = (
    *verification_v1.COMMANDS,
    *identity_v1.COMMANDS,
    *identity_v2.COMMANDS,
    *hooks_v1.COMMANDS,
    *notifier_v1.COMMANDS,
    *admin_v1.COMMANDS,
)
EVENTS: tuple[Event[Any], ...] = events_v1.EVENTS
