"""The request edge: client input the server cannot take is refused before any view runs.

Bad input used to reach the views and crash them with a 500 (issue 13): JSON
nested 50,000 deep, lone surrogates, integers beyond 64 bits, NUL bytes in
keys (see :mod:`flamenco.safe_json`), and huge ``?page=`` values. One
``before_request`` check covers every route of the server, so no endpoint
can forget it:

- a request body that is JSON is parsed once, with :func:`flamenco.safe_json.loads`,
  whatever its Content-Type (Flamenco 2 Managers post without one), and
  refused with a 400 naming the field; views then get the parsed body from
  Flask's cache (``request.get_json``). Form and multipart bodies are left to
  their views. A body that is no JSON at all is left to the view too, which
  says what it expected.
- ``page`` and ``max_results`` must be whole numbers in range.

The app's JSON provider parses with the same checks, so a view reading JSON
some other way is covered as well. Query operators and field access are
checked per Eve resource by :mod:`flamenco.eve_hooks`.
"""
from __future__ import annotations

import re
from typing import Any, NoReturn

import flask
from flask.json.provider import DefaultJSONProvider
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from flamenco import safe_json
from flamenco.errors import InvalidInput

# Bodies parsed by their views as forms, never as JSON.
FORM_MIMETYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})
# Integer query arguments, whatever the route, and their config key of the highest value.
INTEGER_ARGS = {"page": "REQUEST_MAX_PAGE", "max_results": "REQUEST_MAX_RESULTS"}
_DIGITS = re.compile(r"[0-9]{1,18}")


def _refuse(error: safe_json.UnsafeJSON) -> NoReturn:
    raise InvalidInput(error.field, error.reason)


class GuardedJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, parsing with :func:`flamenco.safe_json.loads`."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return safe_json.loads(s)


class GuardedRequest(flask.Request):
    """Flask's request; unsafe JSON is a 400 naming the field, not "Failed to decode JSON"."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if isinstance(e, safe_json.UnsafeJSON):
            _refuse(e)
        return super().on_json_loading_failed(e)


def check_integer_args(args: MultiDict, config: flask.Config) -> None:
    """``page`` and ``max_results``: whole numbers from 1 to their configured maximum."""
    for name, limit_key in INTEGER_ARGS.items():
        raw = args.get(name)
        if raw is None:
            continue
        limit = config[limit_key]
        if not _DIGITS.fullmatch(raw.strip()) or not 1 <= int(raw) <= limit:
            raise InvalidInput(name, f"must be a whole number from 1 to {limit}")


def check_json_body(request: flask.Request) -> None:
    """Parse a JSON body with the safe parser; 400 naming the field when unsafe."""
    if request.mimetype in FORM_MIMETYPES or not request.get_data(cache=True):
        return
    if request.is_json:
        # Through Flask, so the parsed body is cached for the view.
        try:
            request.get_json()
        except InvalidInput:
            raise
        except (BadRequest, UnsupportedMediaType):
            pass  # not JSON: the view says what it expected
        return
    try:
        safe_json.loads(request.get_data(cache=True))
    except safe_json.UnsafeJSON as ex:
        _refuse(ex)
    except ValueError:
        return


def check_request() -> None:
    """``before_request``: the edge checks of every route."""
    request = flask.request
    check_integer_args(request.args, flask.current_app.config)
    check_json_body(request)


def setup_app(app: flask.Flask) -> None:
    """Parse JSON safely everywhere and check every request at the edge."""
    app.json = GuardedJSONProvider(app)
    app.request_class = GuardedRequest
    app.before_request(check_request)
