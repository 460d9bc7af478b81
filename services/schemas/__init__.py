"""Schema tools: the JSON Schemas and AsyncAPI document on disk, their compatibility check, and
docs/reference.md."""
