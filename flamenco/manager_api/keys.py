"""Keys a document may carry into MongoDB.

Keys containing ``.`` or starting with ``$`` are refused by the database
(the local store always, MongoDB in most positions; flamenco.store: keys),
which would surface as a 500. Client-supplied dicts (Manager variables,
timing metrics) are checked first so the client gets a 400 naming the key.
"""
from __future__ import annotations

from typing import Any


def unstorable_key(value: Any, path: str) -> str | None:
    """The dotted path of the first key in ``value`` that cannot be stored, or None."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or "." in key or key.startswith("$") or not key:
                return f"{path}[{key!r}]"
            found = unstorable_key(item, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = unstorable_key(item, f"{path}[{index}]")
            if found:
                return found
    return None


def storable_key_reason(value: Any, path: str) -> str | None:
    """A message saying which key of ``value`` cannot be stored, or None if all can."""
    bad = unstorable_key(value, path)
    if bad is None:
        return None
    return f"key {bad} is not allowed: keys must be non-empty and must not contain '.' or start with '$'"
