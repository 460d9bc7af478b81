"""Which differences between the last release's message schemas and today's are breaking.

Pure: two snapshots in, a list of classified changes out; reading the files is
`services.schemas.schema_files`' job. A message is compared field by field with its namesake in the
baseline, `$ref`s followed, and each difference is judged by who reads the message:

- Gatehouse reads it (`in`: a command request, a hook reply). Callers wrote it against the old
  schema, so it may only come to accept more: a new optional field, a new enum value, a looser
  limit. A removed field, a new required field, a field made required, a narrower type or an
  enum value taken away rejects what a caller sends today.
- Gatehouse writes it (`out`: replies, events, deliveries, hook requests). Consumers read it
  with the old schema, so it may only come to promise more: a field removed, made optional or
  widened (`null` now possible, a longer string) breaks them. New fields and new enum values
  are allowed all the same: consumers ignore what they do not know (tolerant reader), which is
  the versioning rule docs/guides/calling.md gives.

A new message, and so a new version (`identity.login.v2` beside `v1`), is allowed; a message
that disappears, or whose exchange or routing key changes, breaks its users. Annotations
(`title`, `description`, `examples`, `default`, `discriminator`) are not compared.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from services.schemas import schema_nodes as nodes

Schema = nodes.Schema

_LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")
_UPPER_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties")
_EXACT = ("pattern", "format", "multipleOf")


class Kind(Enum):
    message_added = "message added"
    message_removed = "message removed"
    route_added = "routing key added"
    route_removed = "routing key removed"
    field_added = "optional field added"
    required_field_added = "required field added"
    field_removed = "field removed"
    made_required = "made required"
    made_optional = "made optional"
    value_added = "enum value added"
    value_removed = "enum value removed"
    narrowed = "narrowed"
    widened = "widened"
    changed = "changed"

    def breaks(self, direction: str) -> bool:
        """Whether this breaks a message Gatehouse reads (`in`) or writes (`out`)."""
        breaks_in, breaks_out = _BREAKS[self]
        return breaks_in if direction == "in" else breaks_out


_BREAKS: dict[Kind, tuple[bool, bool]] = {
    Kind.message_added: (False, False),
    Kind.message_removed: (True, True),
    Kind.route_added: (False, False),
    Kind.route_removed: (True, True),
    Kind.field_added: (False, False),
    Kind.required_field_added: (True, False),
    Kind.field_removed: (True, True),
    Kind.made_required: (True, False),
    Kind.made_optional: (False, True),
    Kind.value_added: (False, False),
    Kind.value_removed: (True, False),
    Kind.narrowed: (True, False),
    Kind.widened: (False, True),
    Kind.changed: (True, True),
}


@dataclass(frozen=True)
class Message:
    schema: Schema
    direction: str  # "in": Gatehouse reads it; "out": Gatehouse writes it
    exchange: str
    routing_keys: tuple[str, ...]


@dataclass(frozen=True)
class Change:
    message: str
    field: str  # dotted path into the message; "" for the message itself
    kind: Kind
    detail: str
    breaking: bool

    def __str__(self) -> str:
        where = f" field `{self.field}`" if self.field else ""
        return f"{'breaking' if self.breaking else 'allowed'}: {self.message}{where}: {self.detail}"


def compare(baseline: Mapping[str, Message], current: Mapping[str, Message]) -> list[Change]:
    """Every difference between the two snapshots, message by message."""
    changes: list[Change] = []
    for name in sorted(baseline.keys() | current.keys()):
        old, new = baseline.get(name), current.get(name)
        if new is None:
            assert old is not None
            detail = "message removed (serve it until a release retires it)"
            changes.append(Change(name, "", Kind.message_removed, detail, True))
        elif old is None:
            changes.append(Change(name, "", Kind.message_added, "new message", False))
        else:
            found = _route_changes(old, new) + _Walk(old.schema, new.schema).run()
            changes += [
                Change(name, path, kind, detail, kind.breaks(new.direction))
                for path, kind, detail in found
            ]
    return changes


def _route_changes(old: Message, new: Message) -> list[tuple[str, Kind, str]]:
    found: list[tuple[str, Kind, str]] = []
    if old.exchange != new.exchange:
        found.append(("", Kind.changed, f"exchange `{old.exchange}` became `{new.exchange}`"))
    for key in old.routing_keys:
        if key not in new.routing_keys:
            found.append(("", Kind.route_removed, f"routing key `{key}` no longer used"))
    for key in new.routing_keys:
        if key not in old.routing_keys:
            found.append(("", Kind.route_added, f"new routing key `{key}`"))
    return found


class _Walk:
    """Both schemas side by side from their roots, collecting (path, kind, detail)."""

    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.roots = (old_root, new_root)
        self.found: list[tuple[str, Kind, str]] = []
        self._open: set[tuple[str, str]] = set()  # refs being compared: recursion guard

    def run(self) -> list[tuple[str, Kind, str]]:
        self.node(*self.roots, "")
        return self.found

    def add(self, path: str, kind: Kind, detail: str) -> None:
        self.found.append((path, kind, detail))

    def node(self, old: Any, new: Any, path: str) -> None:
        refs = (nodes.ref_of(old), nodes.ref_of(new))
        if refs[0] and refs[1]:
            if refs in self._open:
                return
            self._open.add(refs)
        old, new = nodes.resolve(old, self.roots[0]), nodes.resolve(new, self.roots[1])
        old_branches, new_branches = (
            nodes.branches(old, self.roots[0]),
            nodes.branches(new, self.roots[1]),
        )
        if len(old_branches) == 1 and len(new_branches) == 1:
            self.single(old_branches[0], new_branches[0], path)
        else:
            self.union(old_branches, new_branches, path)
        self._open.discard(refs)

    def union(self, old: list[Schema], new: list[Schema], path: str) -> None:
        """anyOf/oneOf: branches paired by what tells them apart, the rest added or removed."""
        old_keyed = {nodes.branch_key(b): b for b in old}
        new_keyed = {nodes.branch_key(b): b for b in new}
        for key, branch in old_keyed.items():
            if key in new_keyed:
                self.node(branch, new_keyed[key], path)
            elif key[0] == "const":
                self.add(path, Kind.value_removed, f"value {key[1]} removed")
            else:
                self.add(path, Kind.narrowed, f"no longer {nodes.describe(branch)}")
        for key, branch in new_keyed.items():
            if key in old_keyed:
                continue
            if key[0] == "const":
                self.add(path, Kind.value_added, f"value {key[1]} added")
            else:
                self.add(path, Kind.widened, f"may now be {nodes.describe(branch)}")

    def single(self, old: Schema, new: Schema, path: str) -> None:
        old_types, new_types = nodes.types(old), nodes.types(new)
        if old_types != new_types:
            kind = _set_change(old_types, new_types)
            self.add(path, kind, f"type {nodes.spell(old_types)} became {nodes.spell(new_types)}")
            if kind is Kind.changed:
                return
        self.values(old, new, path)
        self.bounds(old, new, path)
        if "object" in (old_types or {"object"}) and "object" in (new_types or {"object"}):
            self.properties(old, new, path)
        if "items" in old and "items" in new:
            self.node(old["items"], new["items"], f"{path}[]")

    def values(self, old: Schema, new: Schema, path: str) -> None:
        old_values, new_values = nodes.values(old), nodes.values(new)
        if old_values == new_values:
            return
        if old_values is None:
            self.add(path, Kind.narrowed, f"now only {', '.join(sorted(new_values or ()))}")
        elif new_values is None:
            self.add(path, Kind.widened, f"no longer only {', '.join(sorted(old_values))}")
        else:
            for value in sorted(old_values - new_values):
                self.add(path, Kind.value_removed, f"value {value} removed")
            for value in sorted(new_values - old_values):
                self.add(path, Kind.value_added, f"value {value} added")

    def bounds(self, old: Schema, new: Schema, path: str) -> None:
        for name in (*_LOWER_BOUNDS, *_UPPER_BOUNDS, *_EXACT):
            before, after = old.get(name), new.get(name)
            if before == after:
                continue
            detail = f"{name} {before!r} became {after!r}"
            if before is None or after is None:
                kind = Kind.narrowed if before is None else Kind.widened
            elif name in _EXACT:
                kind = Kind.changed
            else:
                tighter = after > before if name in _LOWER_BOUNDS else after < before
                kind = Kind.narrowed if tighter else Kind.widened
            self.add(path, kind, detail)

    def properties(self, old: Schema, new: Schema, path: str) -> None:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
        for name in sorted(old_props.keys() - new_props.keys()):
            self.add(nodes.join(path, name), Kind.field_removed, "field removed or renamed")
        for name in sorted(new_props.keys() - old_props.keys()):
            if name in new_required:
                self.add(nodes.join(path, name), Kind.required_field_added, "new required field")
            else:
                self.add(nodes.join(path, name), Kind.field_added, "new optional field")
        for name in sorted(old_props.keys() & new_props.keys()):
            field = nodes.join(path, name)
            if name in new_required - old_required:
                self.add(field, Kind.made_required, "made required")
            elif name in old_required - new_required:
                self.add(field, Kind.made_optional, "made optional")
            self.node(old_props[name], new_props[name], field)
        self.extra(
            old.get("additionalProperties", True), new.get("additionalProperties", True), path
        )

    def extra(self, old: Any, new: Any, path: str) -> None:
        """`additionalProperties`: False (none), True (anything) or a schema (map values)."""
        if old == new:
            return
        if old is False or new is False:
            kind = Kind.narrowed if new is False else Kind.widened
            detail = "other fields no longer accepted" if new is False else "other fields allowed"
            self.add(path, kind, detail)
        else:
            self.node({} if old is True else old, {} if new is True else new, nodes.join(path, "*"))


def _set_change(old: frozenset[str] | None, new: frozenset[str] | None) -> Kind:
    if new is None:
        return Kind.widened
    if old is None:
        return Kind.narrowed
    if new < old:
        return Kind.narrowed
    return Kind.widened if new > old else Kind.changed
