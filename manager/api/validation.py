"""Reading and checking JSON request bodies at the edge.

Everything a worker sends is checked here before any domain code sees it:
valid JSON, an object, not absurdly deep, strings that are valid Unicode
(a lone surrogate cannot be written to a log file or the store), integers
that fit in 64 bits, keys without NUL. A violation is a 400 naming the field.
"""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from flamenco_manager.api.errors import BadRequest

# Deepest nesting accepted: Flamenco 2 bodies are at most a few levels deep.
MAX_DEPTH = 32
# BSON integers are 64-bit.
INT_MIN, INT_MAX = -(2 ** 63), 2 ** 63 - 1


async def json_body(request: web.Request, required: bool = True) -> dict:
    """The request's JSON object; ``{}`` for an empty optional body (or ``null``)."""
    raw = await request.read()
    if not raw.strip():
        if required:
            raise BadRequest("Unable to decode JSON: empty body", field="body")
        return {}
    try:
        data = json.loads(raw)
    except RecursionError:
        raise BadRequest("Unable to decode JSON: nested too deeply", field="body") from None
    except (ValueError, UnicodeDecodeError) as ex:
        raise BadRequest(f"Unable to decode JSON: {ex}", field="body") from None
    if data is None and not required:
        return {}
    if not isinstance(data, dict):
        raise BadRequest("Expected a JSON object", field="body")
    check_value(data, "")
    return data


def check_value(value: Any, path: str) -> None:
    """Refuse what the store and the log files cannot hold (iteratively: no recursion limit to hit)."""
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadRequest(f"nested more than {MAX_DEPTH} levels deep", field=where or "body")
        if isinstance(item, str):
            _check_text(item, where)
        elif isinstance(item, bool) or item is None or isinstance(item, float):
            continue
        elif isinstance(item, int):
            if not INT_MIN <= item <= INT_MAX:
                raise BadRequest("integer out of range (64-bit)", field=where or "body")
        elif isinstance(item, dict):
            for key, sub in item.items():
                _check_text(key, where or "body")
                if "\x00" in key:
                    raise BadRequest("field names may not contain NUL", field=where or "body")
                stack.append((sub, f"{where}.{key}" if where else key, depth + 1))
        elif isinstance(item, list):
            stack.extend((sub, where, depth + 1) for sub in item)


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("not valid Unicode (lone surrogate)", field=where or "body") from None


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
