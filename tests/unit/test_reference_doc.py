"""docs/reference.md names every command and event, and keeps apart types that share a name."""

from pydantic import BaseModel

from contracts import catalog
from services.schemas import reference_doc


def test_every_command_and_event_has_a_section():
    page = reference_doc.render()
    for command in catalog.COMMANDS:
        assert f"\n### {command.routing_key}\n" in page
    for event in catalog.EVENTS:
        assert f"\n### {event.routing_key}\n" in page


def test_two_different_types_with_one_name_both_keep_their_fields():
    def holder(field: str) -> type[BaseModel]:
        inner = type("Inner", (BaseModel,), {"__annotations__": {field: str}})
        return type("Outer", (BaseModel,), {"__annotations__": {"inner": inner}})

    page = reference_doc._Page()
    page.fields(holder("alpha"), "A")
    page.fields(holder("beta"), "B")
    assert "| `inner` | [Inner](#inner) | yes |  |" in page.lines
    assert "| `inner` | [Inner2](#inner2) | yes |  |" in page.lines
    assert set(page.types) == {"Inner", "Inner2"}
    assert set(page.types["Inner2"]["properties"]) == {"beta"}
