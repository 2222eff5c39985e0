"""JSON Schema checks with validators built once per schema (building one checks the schema
itself, which costs more than validating a small document)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import jsonschema


def schema_problem(value: Any, schema: dict[str, Any]) -> str | None:
    """None when `value` matches; otherwise where and what is wrong, e.g. 'notes/0/item_id: ...'."""
    error = jsonschema.exceptions.best_match(_validator(json.dumps(schema, sort_keys=True)).iter_errors(value))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "(root)"
    return f"{where}: {error.message}"


@lru_cache(maxsize=256)
def _validator(schema_text: str) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_text)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema)
