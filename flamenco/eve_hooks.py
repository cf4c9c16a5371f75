"""Eve hooks every resource gets: clear 400s for malformed queries and bodies.

Eve checks operator names against ``MONGO_QUERY_BLACKLIST`` but not operand
shapes, field access or ObjectIds, and answers 500 for some malformed input;
these hooks answer 400 with field and reason first. Queries may name only
fields the caller may read and only well-formed operators
(:mod:`flamenco.queries`; the local store crashes on ``$mod`` with a
non-array operand, flamenco.store: operators, so nothing malformed may reach
it). Bodies are checked for safe JSON at the request edge
(:mod:`flamenco.request_guard`); here a POST may not set fields the server
owns.
"""
from __future__ import annotations

from typing import Mapping, NoReturn, cast

import flask
from bson import ObjectId

from flamenco import queries, safe_json
from flamenco.auth import current_user
from flamenco.auth import fields as access_fields
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


def _abort_query_error(error: queries.QueryError | safe_json.UnsafeJSON) -> NoReturn:
    """400 keyed by the query argument (``where``, ``sort``), saying where in it and why."""
    argument = error.field.split(".", 1)[0].split("[", 1)[0]
    detail = f"{error.field}: {error.reason}"
    abort(400, f"the query was rejected: {detail}", {argument: detail})


def _json_arg(request: flask.Request, name: str) -> object:
    """Query argument ``name`` parsed as JSON (None when absent); 400 when unsafe or not an object."""
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        value = safe_json.loads(raw, name)
    except safe_json.UnsafeJSON as ex:
        _abort_query_error(ex)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        abort(400, f"{name} must be a JSON object", {name: "must be a JSON object, like {\"name\": 1}"})
    return value


def check_query_args(resource: str, request: flask.Request, lookup: dict) -> None:
    """Eve ``on_pre_GET``: 400 with field and reason for a ``where``, ``sort`` or
    ``projection`` the server refuses: not a JSON object (Eve answers 500 for
    some), unsafe JSON (:mod:`flamenco.safe_json`), a field the caller may not
    read or a malformed operand (:mod:`flamenco.queries`), and malformed
    ObjectIds (a typo in an id should not look like "no such jobs")."""
    app = flask.current_app
    where = _json_arg(request, app.config["QUERY_WHERE"]) or {}
    _json_arg(request, app.config["QUERY_PROJECTION"])
    fields = access_fields.queryable_fields(resource, app.config["SOURCES"][resource]["projection"] or {},
                                            current_user())
    try:
        queries.check_where(where, fields)
        raw_sort = request.args.get(app.config["QUERY_SORT"])
        if raw_sort is not None:
            queries.check_sort(queries.parse_sort(raw_sort), fields)
    except queries.QueryError as ex:
        _abort_query_error(ex)
    schema = app.config["DOMAIN"][resource].get("schema", {})
    _check_where(where, _objectid_fields(schema))


def check_post_body(resource: str, request: flask.Request) -> None:
    """Eve ``on_pre_POST``: the body must be a JSON object (or a list of them;
    Eve answers 500 for other JSON values), and may not set the fields the
    server owns: Eve's meta fields (``_id``, ``_created``, ...) and the
    schema's ``readonly`` fields. A client-chosen ``_id`` answered 409 for an
    id taken in any project, an existence oracle across projects.
    """
    payload = request.get_json(silent=True)
    items = payload if isinstance(payload, list) else [payload]
    if payload is not None and not all(isinstance(item, dict) for item in items):
        abort(400, "request body must be a JSON object or a list of objects")
    if payload is None:
        return
    schema = flask.current_app.config["DOMAIN"][resource].get("schema", {})
    for item in cast(list[dict], items):
        for field in item:
            if field.startswith("_") or (schema.get(field) or {}).get("readonly"):
                abort(422, f"{field} is set by the server", {field: "set by the server; leave it out"})
