"""Encoding for the Manager protocol: what Flamenco Manager 2.x expects on the wire.

JSON dates are RFC 1123 with second precision, as Eve renders them; ObjectIds
are 24-character hex strings. BSON (``Accept: application/bson``) keeps real
dates and ObjectIds. ``X-Flamenco-Last-Updated`` is ISO-8601 with sub-second
precision, because second precision would resend or skip tasks (reference §6.3).
"""
from __future__ import annotations

import datetime
import email.utils
import json
from typing import Any

import bson
import flask
from bson import ObjectId

from flamenco import clock
from flamenco.manager_api import defaults


class BadTimestamp(ValueError):
    """An ``X-Flamenco-If-Updated-Since`` value that is no date."""


def rfc1123(value: datetime.datetime) -> str:
    """``Mon, 23 Nov 2026 17:09:06 GMT``, Eve's JSON date format."""
    return email.utils.format_datetime(clock.as_utc(value).astimezone(datetime.timezone.utc), usegmt=True)


def iso8601(value: datetime.datetime) -> str:
    """ISO-8601 in UTC with microseconds, for ``X-Flamenco-Last-Updated``."""
    return clock.as_utc(value).astimezone(datetime.timezone.utc).isoformat(timespec="microseconds")


def parse_timestamp(raw: str) -> datetime.datetime:
    """Parse what a Manager sends back: our ISO-8601, or an RFC 1123 date."""
    raw = raw.strip()
    try:
        parsed = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            raise BadTimestamp(f"{raw!r} is not an ISO-8601 or RFC 1123 date") from None
    return clock.as_utc(parsed)


def _json_default(value: Any) -> Any:
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, datetime.datetime):
        return rfc1123(value)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def to_json(data: Any) -> str:
    """JSON text with ObjectIds as hex and dates as RFC 1123."""
    return json.dumps(data, default=_json_default)


def wants_bson(request: flask.Request) -> bool:
    """True when the client prefers BSON over JSON (reference §6.3)."""
    return request.accept_mimetypes.best_match(["application/json", defaults.BSON_MIMETYPE]) \
        == defaults.BSON_MIMETYPE


def response(data: dict, request: flask.Request, status: int = 200) -> flask.Response:
    """``data`` as BSON or JSON, whichever the client asked for."""
    if wants_bson(request):
        return flask.Response(bson.encode(data), status=status, mimetype=defaults.BSON_MIMETYPE)
    return flask.Response(to_json(data), status=status, mimetype="application/json")
