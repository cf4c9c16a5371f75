"""Error responses: JSON with the status code, a message and, for bad input, the field."""
from __future__ import annotations

from aiohttp import web


class BadRequest(Exception):
    """Invalid input; ``field`` names what was wrong."""

    def __init__(self, message: str, field: str | None = None, code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


def error_response(code: int, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    body: dict = {"_status": "ERR", "_error": {"code": code, "message": message}}
    if field:
        body["_issues"] = {field: message}
    return web.json_response(body, status=code, headers=headers)
