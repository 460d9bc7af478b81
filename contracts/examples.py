"""An example message for every contract, for the schema files, the AsyncAPI document and
docs/reference.md: a model's own example, or one assembled from its fields' examples."""

from datetime import datetime
from enum import Enum
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from contracts.topology import Command, Event

EXAMPLE_TIME = "2026-01-01T12:00:00Z"


def example(model: type[BaseModel]) -> dict[str, Any]:
    """The model's own example, or one assembled from its fields' examples."""
    extra = model.model_config.get("json_schema_extra")
    examples = extra.get("examples") if isinstance(extra, dict) else None
    if isinstance(examples, list) and examples and isinstance(examples[0], dict):
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


def event_example(event: Event[Any]) -> dict[str, Any]:
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


def reply_example(command: Command[Any, Any]) -> dict[str, Any]:
    return {"ok": True, "result": example(command.result)}
