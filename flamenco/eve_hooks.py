"""Eve hooks every resource gets: clear 400s for malformed queries and bodies.

Eve checks operator names against ``MONGO_QUERY_BLACKLIST`` but not operand
shapes or ObjectIds, and answers 500 for some malformed input; these hooks
answer 400 with field and reason first. One operand shape also matters for
safety: FerretDB v1.24 crashes on ``$mod`` with a non-array operand (seen
here), so that is refused before the query reaches the database.
"""
from __future__ import annotations

import json
from typing import Mapping

import flask
from bson import ObjectId

from flamenco.errors import abort

# Query operators whose operands are compared with the field's values.
_VALUE_OPERATORS = ("$eq", "$ne", "$in", "$nin", "$all", "$gt", "$gte", "$lt", "$lte")


def _objectid_fields(schema: Mapping[str, dict]) -> set[str]:
    """Names of top-level fields holding ObjectIds (or lists of them)."""
    fields = {"_id"}
    for name, rules in schema.items():
        if rules.get("type") == "objectid" or (rules.get("type") == "list"
                                               and (rules.get("schema") or {}).get("type") == "objectid"):
            fields.add(name)
    return fields


def _bad_ids(value: object) -> list[str]:
    """The strings in a filter value that are not valid ObjectIds."""
    if isinstance(value, str):
        return [] if ObjectId.is_valid(value) else [value]
    if isinstance(value, list):
        return [v for item in value for v in _bad_ids(item)]
    if isinstance(value, dict):
        return [v for op, operand in value.items() if op in _VALUE_OPERATORS for v in _bad_ids(operand)]
    return []


def _check_operands(where: object) -> None:
    """400 for operand shapes the database cannot take (and FerretDB crashes on)."""
    if isinstance(where, list):
        for item in where:
            _check_operands(item)
    elif isinstance(where, dict):
        for key, value in where.items():
            if key == "$mod" and not (isinstance(value, list) and len(value) == 2):
                abort(400, "$mod takes [divisor, remainder]", {"where": "$mod needs a two-element array"})
            if key in ("$and", "$or", "$nor") and not (isinstance(value, list) and value):
                abort(400, f"{key} takes a non-empty array", {"where": f"{key} needs a non-empty array"})
            _check_operands(value)


def _check_where(where: object, id_fields: set[str]) -> None:
    if isinstance(where, list):
        for clause in where:
            _check_where(clause, id_fields)
        return
    if not isinstance(where, dict):
        return
    for key, value in where.items():
        if key in ("$and", "$or", "$nor"):
            _check_where(value, id_fields)
        elif key in id_fields:
            bad = _bad_ids(value)
            if bad:
                abort(400, f"invalid ObjectId in where.{key}",
                      {key: f"{bad[0]!r} is not a 24-character hex ObjectId"})


def check_query_args(resource: str, request: flask.Request, lookup: dict) -> None:
    """Eve ``on_pre_GET``: 400 with a reason for a ``where`` or ``projection``
    that is not a JSON object (Eve answers 500 for some), and for malformed
    ObjectIds in ``where`` (a typo in an id should not look like "no such jobs")."""
    raw = request.args.get(flask.current_app.config["QUERY_WHERE"], "{}")
    try:
        where = json.loads(raw)
    except ValueError:
        abort(400, "where is not valid JSON", {"where": "must be a JSON object"})
    if not isinstance(where, dict):
        abort(400, "where must be a JSON object", {"where": "must be a JSON object"})
    projection = request.args.get("projection")
    if projection is not None:
        try:
            parsed = json.loads(projection)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            abort(400, "projection must be a JSON object", {"projection": 'like {"name": 1}'})
    _check_operands(where)
    schema = flask.current_app.config["DOMAIN"][resource].get("schema", {})
    _check_where(where, _objectid_fields(schema))


def check_body_is_object(resource: str, request: flask.Request) -> None:
    """Eve ``on_pre_POST``: the body must be a JSON object (or a list of them);
    Eve answers 500 for other JSON values."""
    payload = request.get_json(silent=True)
    items = payload if isinstance(payload, list) else [payload]
    if payload is not None and not all(isinstance(item, dict) for item in items):
        abort(400, "request body must be a JSON object or a list of objects")
