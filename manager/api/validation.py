"""Reading and checking JSON request bodies."""
from __future__ import annotations

from typing import Any

from flask import request

from flamenco_manager.api.errors import BadRequest


def json_body(required: bool = True) -> dict:
    """The request's JSON object; ``{}`` for an empty optional body."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise BadRequest("Unable to decode JSON: empty body")
        return {}
    data = request.get_json(force=True, silent=True)
    if data is None:
        raise BadRequest("Unable to decode JSON")
    if not isinstance(data, dict):
        raise BadRequest("Expected a JSON object")
    return data


def optional(body: dict, key: str, kind: type | tuple[type, ...]) -> Any:
    """``body[key]`` if present and not null, checked against ``kind``."""
    value = body.get(key)
    if value is None:
        return None
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise BadRequest(f"must be of type {_json_type(names)}", field=key)
    return value


def required(body: dict, key: str, kind: type | tuple[type, ...]) -> Any:
    value = optional(body, key, kind)
    if value is None:
        raise BadRequest("required field", field=key)
    return value


def string_list(body: dict, key: str, *, required_: bool = False) -> list[str] | None:
    value = required(body, key, list) if required_ else optional(body, key, list)
    if value is not None and not all(isinstance(v, str) and v for v in value):
        raise BadRequest("must be a list of non-empty strings", field=key)
    return value


def _json_type(python_names: str) -> str:
    return (python_names.replace("str", "string").replace("int", "integer")
            .replace("float", "number").replace("dict", "object").replace("list", "array"))
