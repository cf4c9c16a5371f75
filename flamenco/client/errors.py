"""Exceptions of the submission client, with messages a person can act on.

The server answers errors as ``{"_status": "ERR", "_code": N, "_message": ...,
"_issues": {field: reason}}`` (reference v2-server.md §1.4, flamenco.errors).
:func:`error_from_response` turns such a response, or any other failed one,
into one of the exceptions below; the CLI prints ``str(exc)`` and nothing else.
"""
from __future__ import annotations

from typing import Any, Mapping

import requests


class FlamencoClientError(Exception):
    """Base of every error the client raises; ``str()`` is the whole explanation."""


class InvalidInput(FlamencoClientError):
    """The caller's input was rejected before anything was sent."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class ServerUnreachable(FlamencoClientError):
    """No HTTP answer: wrong URL, server down, or a network time-out."""


class APIError(FlamencoClientError):
    """The server answered with an HTTP error status."""

    def __init__(self, status_code: int, message: str, issues: Mapping[str, str] | None = None) -> None:
        self.status_code = status_code
        self.message = message
        self.issues = dict(issues or {})
        super().__init__(format_error(status_code, message, self.issues))


class AuthenticationError(APIError):
    """401: the token is missing, unknown or expired."""


class PermissionDenied(APIError):
    """403: the token's user may not do this (e.g. not a member of the project)."""


class NotFound(APIError):
    """404: no such job, project or manager (or not visible to this user)."""


class RequestRejected(APIError):
    """400/409/412/422: the request itself was wrong; ``issues`` names the fields."""


class ServerError(APIError):
    """5xx: the server failed; the request may succeed later."""


def flatten_issues(issues: Any, prefix: str = "") -> dict[str, str]:
    """Eve's nested ``_issues`` (dicts and lists of reasons) as ``{"a.b": "reason"}``."""
    if isinstance(issues, Mapping):
        flat: dict[str, str] = {}
        for key, value in issues.items():
            flat.update(flatten_issues(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(issues, list):
        if all(not isinstance(item, (Mapping, list)) for item in issues):
            return {prefix or "request": "; ".join(str(item) for item in issues)}
        flat = {}
        for item in issues:
            flat.update(flatten_issues(item, prefix))
        return flat
    return {prefix or "request": str(issues)}


def format_error(status_code: int, message: str, issues: Mapping[str, str]) -> str:
    """``HTTP 422: message`` then one ``  field: reason`` line per issue the message does not already say.

    The server's message often is the issue itself (``status: cannot go from
    ...`` with ``{"status": ...}``); printing both showed every reason twice.
    """
    lines = [f"HTTP {status_code}: {message}".rstrip(": ")]
    lines += [f"  {field}: {reason}" for field, reason in issues.items() if reason not in message]
    return "\n".join(lines)


_CLASS_FOR_STATUS: dict[int, type[APIError]] = {
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
}

# Added to every 401: the server cannot know where the client's token came from.
TOKEN_HINT = ("the server did not accept the token; check --token or FLAMENCO_TOKEN, "
              "or get a new one with `flamenco create-token USER`")
# What to tell the user when the server gave no message of its own.
_HINT_FOR_STATUS: dict[int, str] = {
    401: "authentication failed",
    403: "permission denied",
    404: "not found",
}


def error_from_response(response: requests.Response) -> APIError:
    """The exception that describes a failed response, whatever its body."""
    status = response.status_code
    message, issues = "", {}
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        message = str(body.get("_message") or body.get("message") or "")
        if "_issues" in body:
            issues = flatten_issues(body["_issues"])
    elif response.text and "html" not in response.headers.get("Content-Type", ""):
        message = response.text.strip()[:500]
    message = message or _HINT_FOR_STATUS.get(status) or response.reason or "request failed"
    if status == 401:
        message = f"{message} ({TOKEN_HINT})"
    cls = _CLASS_FOR_STATUS.get(status) or (ServerError if status >= 500 else RequestRejected)
    return cls(status, message, issues)
