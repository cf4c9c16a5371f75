"""The API's error shape, in one place.

Every error under ``/api`` is JSON ``{"_status": "ERR", "_code": N,
"_message": "..."}`` (Pillar's shape, reference v2-server.md §1.4), plus
``"_issues": {field: reason}`` when specific fields are at fault. Eve's own
error bodies (``_error``) are rewritten to that shape so clients see one form.
"""
from __future__ import annotations

import contextlib
import json
import logging
import re
from typing import Iterator, Mapping, NoReturn

import flask
import pymongo.errors
from bson import ObjectId
from werkzeug.exceptions import BadRequest, HTTPException

log = logging.getLogger(__name__)

# Paths of Eve items (``/api/<resource>/<id>``); a 404 on such a path whose id
# is not an ObjectId is really a malformed request.
_ITEM_PATH = re.compile(r"^/api/(?:flamenco/)?[a-z_]+/(?P<item_id>[^/]+)/?$")


class InvalidInput(BadRequest):
    """A part of the request the server refuses (400); ``field`` names it.

    Raised at the request edge (:mod:`flamenco.request_guard`): the API
    answers it in its JSON shape with ``_issues``, the dashboard as its error page.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(description=f"{field}: {reason}")
        self.field = field
        self.reason = reason


class FieldError(ValueError):
    """Input the server refuses, raised by domain code that knows no HTTP framework:
    ``code`` is the HTTP status to answer, ``field`` names the culprit, ``reason`` says why."""

    def __init__(self, code: int, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.code = code
        self.field = field
        self.reason = reason


def error_response(code: int, message: str, issues: Mapping[str, str] | None = None,
                   headers: Mapping[str, str] | None = None) -> flask.Response:
    """A JSON error response in the API's shape."""
    body: dict = {"_status": "ERR", "_code": code, "_message": message}
    if issues:
        body["_issues"] = dict(issues)
    resp = flask.Response(json.dumps(body), status=code, mimetype="application/json")
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def abort(code: int, message: str, issues: Mapping[str, str] | None = None,
          headers: Mapping[str, str] | None = None) -> NoReturn:
    """Stop the request with an error in the API's shape."""
    flask.abort(error_response(code, message, issues, headers))


def parse_object_id(value: object, field: str) -> ObjectId:
    """``value`` as an ObjectId, or a 400 naming ``field``."""
    if isinstance(value, ObjectId):
        return value
    if isinstance(value, str) and ObjectId.is_valid(value):
        return ObjectId(value)
    abort(400, f"{field} is not a valid ObjectId", {field: "must be a 24-character hex ObjectId"})


def handle_http_exception(error: HTTPException) -> flask.Response:
    """Render any HTTPException (Eve's aborts included) in the API's shape."""
    if error.code == 404:
        match = _ITEM_PATH.match(flask.request.path)
        if match and not ObjectId.is_valid(match.group("item_id")):
            return error_response(400, "invalid ObjectId in URL",
                                  {"_id": f"{match.group('item_id')!r} is not a 24-character hex ObjectId"})
    headers = {}
    if error.code == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="flamenco"'
    if error.code == 405 and error.valid_methods:  # type: ignore[attr-defined]
        headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
    message = error.description if isinstance(error.description, str) else str(error)
    if isinstance(error, InvalidInput):
        return error_response(400, message, {error.field: error.reason})
    if error.code == 400 and message == BadRequest.description:
        # Eve aborts without saying why for unparsable query arguments.
        message = ("malformed request: check the query arguments (where, sort, projection, "
                   "max_results, page) and that the body is a JSON object")
    return error_response(error.code or 500, message, headers=headers)


def handle_unexpected(error: Exception) -> flask.Response:
    """Log and hide the traceback of an unexpected exception.

    A database refusal of a read is the client's query at fault (Eve checks
    operator names, not their operands, and reads lazily after its checks):
    400 with the database's reason. An unreachable database is a 503.
    """
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    if isinstance(error, pymongo.errors.OperationFailure) and flask.request.method in ("GET", "HEAD"):
        reason = (error.details or {}).get("errmsg") or str(error)
        return error_response(400, f"the database rejected the query: {reason}", {"where": reason})
    if isinstance(error, pymongo.errors.ConnectionFailure):
        # ServerSelectionTimeoutError, AutoReconnect, NetworkTimeout: the store
        # is down or unreachable, not the request at fault.
        return store_unavailable(error)
    log.exception("unhandled error on %s %s", flask.request.method, flask.request.path)
    return error_response(500, "internal server error")


def store_unavailable(error: Exception) -> flask.Response:
    """503 with Retry-After for a request the unreachable store could not serve."""
    log.error("database unavailable on %s %s: %s", flask.request.method, flask.request.path, error)
    retry_after = flask.current_app.config.get("STORE_UNAVAILABLE_RETRY_AFTER_SECONDS", 5)
    return error_response(503, "database unavailable; retry later", headers={"Retry-After": str(retry_after)})


def normalise_error_body(response: flask.Response) -> flask.Response:
    """``after_request``: give Eve's own error bodies ``_code``/``_message``.

    Eve answers validation failures with ``{_status, _issues, _error: {code,
    message}}`` without going through an error handler; add the Pillar keys.
    """
    if response.status_code < 400 or response.mimetype != "application/json" or response.direct_passthrough:
        return response
    try:
        body = json.loads(response.get_data())
    except ValueError:
        return response
    if not isinstance(body, dict) or "_code" in body:
        return response
    err = body.pop("_error", None) or {}
    body["_status"] = "ERR"
    body["_code"] = response.status_code
    body["_message"] = err.get("message") or _summarise_issues(body.get("_issues")) or response.status
    response.set_data(json.dumps(body, default=str))
    return response


def _summarise_issues(issues: object) -> str:
    if isinstance(issues, dict) and issues:
        return "; ".join(f"{k}: {v}" for k, v in issues.items())
    return ""


@contextlib.contextmanager
def status_errors() -> Iterator[None]:
    """Turn ``flamenco.status`` refusals into 4xx responses with field and reason."""
    from flamenco import status

    try:
        yield
    except status.IllegalTransition as ex:
        abort(409, str(ex), {ex.field: ex.reason})
    except status.StatusConflict as ex:
        abort(409, str(ex), {"status": "changed concurrently; reload and retry"})
    except status.NotFound as ex:
        abort(404, str(ex))


def check_storable_keys(value: object, field: str) -> None:
    """422 naming ``field`` if a nested key starts with ``$`` or contains ``.``:
    MongoDB treats those as operators/paths and the local store refuses to store
    them (flamenco.store: keys)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or key.startswith("$") or "." in key:
                abort(422, f"invalid key {key!r} in {field}",
                      {field: f"key {key!r} must not start with '$' or contain '.'"})
            check_storable_keys(item, f"{field}.{key}")
    elif isinstance(value, list):
        for item in value:
            check_storable_keys(item, field)
