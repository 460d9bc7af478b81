"""The breaking-change classifier, on the real message schemas and on deliberate edits of copies."""

import copy
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from contracts import export
from services.schemas import schema_compat
from services.schemas.schema_compat import Change, Kind, Message

SCHEMAS = export.json_schemas()
ROUTES = export.routes()

LOGIN = "commands/identity.login.v1.request"
USER_REPLY = "commands/identity.get_user.v1.reply"
SEND_CODE = "commands/verification.send_code.v1.request"
REGISTERED = "events/user.registered.v1"


def snapshot() -> dict[str, Message]:
    return {
        name.removesuffix(".json"): Message(
            schema=copy.deepcopy(SCHEMAS[name]),
            direction=route["direction"],
            exchange=route["exchange"],
            routing_keys=tuple(route["routing_keys"]),
        )
        for name, route in ROUTES.items()
    }


def edited(name: str, edit: Callable[[dict[str, Any]], object]) -> dict[str, Message]:
    current = snapshot()
    schema = copy.deepcopy(current[name].schema)
    edit(schema)
    current[name] = replace(current[name], schema=schema)
    return current


def changes(current: dict[str, Message]) -> list[Change]:
    return schema_compat.compare(snapshot(), current)


def breaking(current: dict[str, Message]) -> list[str]:
    return [str(c) for c in changes(current) if c.breaking]


def test_identical_snapshots_have_no_changes():
    assert changes(snapshot()) == []


def test_annotations_are_not_compared():
    def reword(schema: dict[str, Any]) -> None:
        schema["properties"]["email"]["title"] = "E-mail"
        schema["properties"]["email"]["anyOf"][0]["description"] = "reworded"
        schema["properties"]["email"]["anyOf"][0]["examples"] = ["grace@example.com"]

    assert changes(edited(LOGIN, reword)) == []


# --- breaking -------------------------------------------------------------------------------


def test_removing_a_request_field_is_breaking_and_names_it():
    found = breaking(edited(LOGIN, lambda s: s["properties"].pop("phone")))
    assert found == [f"breaking: {LOGIN} field `phone`: field removed or renamed"]


def test_renaming_a_field_is_breaking():
    def rename(schema: dict[str, Any]) -> None:
        schema["properties"]["mobile"] = schema["properties"].pop("phone")

    current = edited(LOGIN, rename)
    assert breaking(current) == [f"breaking: {LOGIN} field `phone`: field removed or renamed"]
    assert [c.kind for c in changes(current) if not c.breaking] == [Kind.field_added]


def test_making_a_request_field_required_is_breaking():
    found = breaking(edited(LOGIN, lambda s: s.setdefault("required", []).append("email")))
    assert found == [f"breaking: {LOGIN} field `email`: made required"]


def test_a_new_required_request_field_is_breaking():
    def add(schema: dict[str, Any]) -> None:
        schema["properties"]["tenant"] = {"type": "string"}
        schema.setdefault("required", []).append("tenant")

    assert breaking(edited(LOGIN, add)) == [f"breaking: {LOGIN} field `tenant`: new required field"]


@pytest.mark.parametrize(
    ("narrow", "detail"),
    [
        (lambda p: p["anyOf"].pop(), "no longer null"),
        (lambda p: p["anyOf"][0].update(maxLength=100), "maxLength 320 became 100"),
        (lambda p: p["anyOf"][0].update(type="integer"), "no longer string"),
        (lambda p: p["anyOf"][0].update(format="email"), "format None became 'email'"),
    ],
    ids=["not nullable", "shorter", "other type", "new format"],
)
def test_narrowing_a_request_field_type_is_breaking(narrow, detail):
    found = breaking(edited(LOGIN, lambda s: narrow(s["properties"]["email"])))
    assert found == [f"breaking: {LOGIN} field `email`: {detail}"]


def test_removing_an_enum_value_from_a_request_is_breaking():
    found = breaking(edited(SEND_CODE, lambda s: s["$defs"]["Scenario"]["enum"].remove("login")))
    assert found == [f'breaking: {SEND_CODE} field `scenario`: value "login" removed']


def test_a_changed_routing_key_is_breaking():
    current = snapshot()
    current[REGISTERED] = replace(current[REGISTERED], routing_keys=("user.created.v1",))
    assert breaking(current) == [
        f"breaking: {REGISTERED}: routing key `user.registered.v1` no longer used"
    ]


def test_a_changed_exchange_is_breaking():
    current = snapshot()
    current[LOGIN] = replace(current[LOGIN], exchange="gatehouse.admin")
    assert breaking(current) == [
        f"breaking: {LOGIN}: exchange `gatehouse.commands` became `gatehouse.admin`"
    ]


def test_a_removed_message_is_breaking_even_with_a_new_version_beside_it():
    current = snapshot()
    current["commands/identity.login.v2.request"] = current.pop(LOGIN)
    assert breaking(current) == [
        f"breaking: {LOGIN}: message removed (serve it until a release retires it)"
    ]


def test_a_breaking_change_inside_v1_stays_breaking_when_a_v2_ships_too():
    current = edited(LOGIN, lambda s: s["properties"].pop("phone"))
    current["commands/identity.login.v2.request"] = current[LOGIN]
    assert breaking(current) == [f"breaking: {LOGIN} field `phone`: field removed or renamed"]


def test_a_reply_field_removed_made_optional_or_nullable_is_breaking():
    def edit(schema: dict[str, Any]) -> None:
        user = schema["$defs"]["User"]
        user["required"].remove("created_at")
        user["properties"].pop("phone")
        user["properties"]["id"] = {"anyOf": [user["properties"]["id"], {"type": "null"}]}

    assert breaking(edited(USER_REPLY, edit)) == [
        f"breaking: {USER_REPLY} field `result.user.phone`: field removed or renamed",
        f"breaking: {USER_REPLY} field `result.user.created_at`: made optional",
        f"breaking: {USER_REPLY} field `result.user.id`: may now be null",
    ]


def test_a_removed_event_field_is_breaking():
    found = breaking(
        edited(REGISTERED, lambda s: s["$defs"]["UserRegistered"]["properties"].pop("email"))
    )
    assert found == [f"breaking: {REGISTERED} field `data.email`: field removed or renamed"]


# --- allowed --------------------------------------------------------------------------------


def test_a_new_optional_request_field_is_allowed():
    found = changes(edited(LOGIN, lambda s: s["properties"].update(tenant={"type": "string"})))
    assert [(c.field, c.kind, c.breaking) for c in found] == [("tenant", Kind.field_added, False)]


def test_a_new_enum_value_in_a_reply_is_allowed():
    current = edited(USER_REPLY, lambda s: s["$defs"]["ErrorCode"]["enum"].append("suspended"))
    found = changes(current)
    assert [(c.field, c.kind, c.breaking) for c in found] == [
        ("error.code", Kind.value_added, False)
    ]


def test_a_new_enum_value_in_a_request_is_allowed():
    found = changes(edited(SEND_CODE, lambda s: s["$defs"]["Scenario"]["enum"].append("invite")))
    assert [(c.kind, c.breaking) for c in found] == [(Kind.value_added, False)]


def test_widening_a_request_field_is_allowed():
    found = changes(edited(LOGIN, lambda s: s["properties"]["email"]["anyOf"][0].pop("maxLength")))
    assert [(c.kind, c.breaking) for c in found] == [(Kind.widened, False)]


def test_a_new_reply_field_is_allowed_even_when_always_present():
    def add(schema: dict[str, Any]) -> None:
        user = schema["$defs"]["User"]
        user["properties"]["locale"] = {"type": "string"}
        user["required"].append("locale")

    found = changes(edited(USER_REPLY, add))
    assert [(c.field, c.kind, c.breaking) for c in found] == [
        ("result.user.locale", Kind.required_field_added, False)
    ]


def test_a_new_message_and_a_new_version_are_allowed():
    current = snapshot()
    current["commands/identity.login.v2.request"] = current[LOGIN]
    current["events/user.suspended.v1"] = current[REGISTERED]
    found = changes(current)
    assert [(c.kind, c.breaking) for c in found] == [(Kind.message_added, False)] * 2


def test_a_recursive_schema_is_compared_without_looping():
    tree: dict[str, Any] = {
        "$ref": "#/$defs/Node",
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
            }
        },
    }
    old = {"tree": Message(tree, "in", "x", ("k",))}
    new_tree = copy.deepcopy(tree)
    new_tree["$defs"]["Node"]["properties"]["name"] = {"type": "string"}
    found = schema_compat.compare(old, {"tree": Message(new_tree, "in", "x", ("k",))})
    assert [(c.field, c.kind) for c in found] == [("name", Kind.field_added)]
