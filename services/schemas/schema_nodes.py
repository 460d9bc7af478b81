"""Reading JSON Schema nodes the way `services.schemas.schema_compat` compares them: local `$ref`s
followed, `anyOf`/`oneOf` flattened into branches, the JSON types and values a node admits.
Pure functions over the schema dictionaries `contracts.export` generates."""

import json
from typing import Any

Schema = dict[str, Any]


def join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def ref_of(node: Any) -> str:
    return node.get("$ref", "") if isinstance(node, dict) else ""


def resolve(node: Any, root: Schema) -> Schema:
    """Follow local `$ref`s (keeping sibling keywords) and unwrap a lone `allOf`."""
    if not isinstance(node, dict):
        return {} if node is True else {"not": {}}
    hops = 0
    while "$ref" in node:
        target: Any = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        hops += 1
        if hops > 64:
            raise ValueError(f"$ref loop at {node}")
    if list(node.get("allOf", ())) and len(node["allOf"]) == 1:
        rest = {k: v for k, v in node.items() if k != "allOf"}
        return {**resolve(node["allOf"][0], root), **rest}
    return node


def branches(node: Schema, root: Schema) -> list[Schema]:
    alternatives = node.get("anyOf") or node.get("oneOf")
    if not alternatives:
        return [node]
    flat: list[Schema] = []
    for branch in alternatives:
        flat += branches(resolve(branch, root), root)
    return flat


def branch_key(branch: Schema) -> tuple[str, str]:
    if "const" in branch:
        return ("const", json.dumps(branch["const"]))
    tags = sorted(
        (name, json.dumps(prop["const"]))
        for name, prop in branch.get("properties", {}).items()
        if isinstance(prop, dict) and "const" in prop
    )
    if tags:
        return ("tag", json.dumps(tags))
    if "properties" in branch:
        return ("object", str(branch.get("title", "")))
    return ("type", spell(types(branch)))


def types(node: Schema) -> frozenset[str] | None:
    """The JSON types a node admits; None when it says nothing (any type)."""
    declared = node.get("type")
    if isinstance(declared, str):
        types = {declared}
    elif isinstance(declared, list):
        types = set(declared)
    elif "const" in node or "enum" in node:
        values = [node["const"]] if "const" in node else node["enum"]
        types = {json_type(v) for v in values}
    else:
        return None
    if "number" in types:
        types.add("integer")
    return frozenset(types)


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def values(node: Schema) -> frozenset[str] | None:
    if "const" in node:
        return frozenset({json.dumps(node["const"])})
    if "enum" in node:
        return frozenset(json.dumps(v) for v in node["enum"])
    return None


def spell(types: frozenset[str] | None) -> str:
    if types is None:
        return "any"
    shown = types - {"integer"} if "number" in types else types
    return "|".join(sorted(shown))


def describe(branch: Schema) -> str:
    if "title" in branch:
        return f"`{branch['title']}`"
    return spell(types(branch))
