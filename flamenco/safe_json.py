"""JSON from clients, refused when the store or the code cannot take it.

These kinds of JSON parse fine but crash later with a 500 (issue 13):

- nesting deeper than the interpreter's recursion limit (``RecursionError``
  in the parser) or deep enough to exhaust BSON encoding and validation;
- a lone UTF-16 surrogate such as ``"\\ud800"``, which no UTF-8 encoder takes
  (``UnicodeEncodeError`` in BSON, in logs and in responses);
- integers beyond 64 bits, which BSON cannot store (``OverflowError``), and
  ``NaN``/``Infinity`` (including ``1e400``), which are no JSON numbers and no
  sensible setting;
- a NUL character in an object key, which BSON keys cannot hold
  (``InvalidDocument``);
- an array directly inside an array, which the local (and CI) store cannot
  store or query (flamenco.store: nested-arrays); no Flamenco payload has
  one, so the rule is the same on MongoDB.

:func:`loads` parses and checks in one go and raises :class:`UnsafeJSON`
naming the offending field; plain ``ValueError`` means "not JSON at all".
"""
from __future__ import annotations

import json
import math
from typing import Any

from flamenco import defaults

# BSON stores integers as signed 64-bit.
INT64_MIN = -(2 ** 63)
INT64_MAX = 2 ** 63 - 1


class UnsafeJSON(ValueError):
    """Valid JSON the server refuses; ``field`` is the path of the culprit."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def child_path(path: str, key: object) -> str:
    """``path.key`` for plain keys, ``path[...]`` for indexes and keys that would confuse a reader."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if isinstance(key, str) and key and key.isascii() and key.isprintable() and "." not in key and "[" not in key:
        return f"{path}.{key}" if path else key
    return f"{path}[{ascii(key)}]"


def _string_reason(text: str) -> str | None:
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone UTF-16 surrogate (not valid Unicode text)"
    return None


def _key_reason(key: str) -> str | None:
    if "\x00" in key:
        return "key contains a NUL character"
    return _string_reason(key)


def check(value: Any, field: str, max_depth: int = defaults.JSON_MAX_DEPTH) -> None:
    """Raise :class:`UnsafeJSON` for the first unstorable part of a parsed JSON ``value``.

    Iterative, so a deep value cannot exhaust the stack here either.
    """
    # (value, its path, its depth, whether it sits directly in an array)
    stack: list[tuple[Any, str, int, bool]] = [(value, field, 0, False)]
    while stack:
        item, path, depth, in_array = stack.pop()
        if isinstance(item, dict):
            if depth >= max_depth:
                raise UnsafeJSON(path or "body", f"nested deeper than {max_depth} levels")
            for key, sub in item.items():
                sub_path = child_path(path, key)
                reason = _key_reason(key)
                if reason:
                    raise UnsafeJSON(sub_path, reason)
                stack.append((sub, sub_path, depth + 1, False))
        elif isinstance(item, list):
            if depth >= max_depth:
                raise UnsafeJSON(path or "body", f"nested deeper than {max_depth} levels")
            if in_array:
                raise UnsafeJSON(path, "an array directly inside an array cannot be stored; use an object")
            stack.extend((sub, child_path(path, index), depth + 1, True) for index, sub in enumerate(item))
        elif isinstance(item, str):
            reason = _string_reason(item)
            if reason:
                raise UnsafeJSON(path or "body", reason)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                raise UnsafeJSON(path or "body", "integer out of range: must fit in 64 bits")
        elif isinstance(item, float) and not math.isfinite(item):
            raise UnsafeJSON(path or "body", "number out of range (NaN and Infinity are not allowed)")


def loads(text: str | bytes, field: str = "", max_depth: int = defaults.JSON_MAX_DEPTH) -> Any:
    """Parse JSON ``text`` and :func:`check` it; ``field`` names the whole value in errors."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise UnsafeJSON(field or "body", f"nested deeper than {max_depth} levels") from None
    check(value, field, max_depth)
    return value
