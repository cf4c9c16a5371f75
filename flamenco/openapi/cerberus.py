"""Cerberus field rules (Eve's DOMAIN schemas) as OpenAPI 3.0 schema objects.

Only the rules our resources use are translated; a rule without a JSON
Schema equivalent (``unique``, ``default``) is left out, because the API
enforces it anyway and a client cannot rely on it from the description.
"""
from __future__ import annotations

from typing import Any, Mapping

# Eve serialises ObjectIds as 24 lowercase hex characters.
OBJECT_ID_PATTERN = "^[a-f0-9]{24}$"
OBJECT_ID = {"type": "string", "pattern": OBJECT_ID_PATTERN}
# Eve serialises datetimes with DATE_FORMAT (RFC 1123, e.g. "Tue, 02 Jan 2024 10:00:00 GMT").
DATETIME = {"type": "string", "description": "RFC 1123 date, e.g. 'Tue, 02 Jan 2024 10:00:00 GMT'"}
# Cerberus scalar types and their JSON Schema counterparts.
_SIMPLE_TYPES = {"string": "string", "integer": "integer", "float": "number", "number": "number",
                 "boolean": "boolean"}


def field_schema(rules: Mapping, *, for_response: bool = False) -> dict:
    """The schema of one field. Response schemas allow null: stored documents
    may lack a value a client never sent, and Eve returns what is stored."""
    kind = rules.get("type")
    out: dict[str, Any]
    if kind == "objectid":
        out = dict(OBJECT_ID)
    elif kind == "datetime":
        out = dict(DATETIME)
    elif kind in _SIMPLE_TYPES:
        out = {"type": _SIMPLE_TYPES[kind]}
    elif kind == "dict":
        out = object_schema(rules.get("schema") or {}, allow_unknown=bool(rules.get("allow_unknown"))
                            or "schema" not in rules, for_response=for_response)
    elif kind == "list":
        out = {"type": "array"}
        if "schema" in rules:
            out["items"] = field_schema(rules["schema"], for_response=for_response)
    else:
        out = {}
    _copy_constraints(rules, out, for_response)
    if for_response and out:
        out["nullable"] = True
    return out


def _copy_constraints(rules: Mapping, out: dict, for_response: bool) -> None:
    if "allowed" in rules:
        out["enum"] = list(rules["allowed"])
    if for_response:
        return  # responses show what is stored; constraints describe what may be sent
    if "maxlength" in rules:
        out["maxLength" if out.get("type") == "string" else "maxItems"] = rules["maxlength"]
    if "minlength" in rules:
        out["minLength" if out.get("type") == "string" else "minItems"] = rules["minlength"]
    if rules.get("empty") is False and out.get("type") == "string":
        out["minLength"] = max(out.get("minLength", 0), 1)
    if "regex" in rules:
        out["pattern"] = rules["regex"]
    if "min" in rules:
        out["minimum"] = rules["min"]
    if "max" in rules:
        out["maximum"] = rules["max"]


def object_schema(fields: Mapping[str, Mapping], *, allow_unknown: bool = False, for_response: bool = False,
                  skip_readonly: bool = False) -> dict:
    """An object whose properties are ``fields``; ``required`` only for requests."""
    properties = {name: field_schema(rules, for_response=for_response) for name, rules in fields.items()
                  if not (skip_readonly and rules.get("readonly"))}
    out: dict = {"type": "object", "properties": properties}
    required = [name for name, rules in fields.items()
                if rules.get("required") and name in properties and not for_response]
    if required:
        out["required"] = required
    if not allow_unknown and not for_response:
        out["additionalProperties"] = False
    return out
