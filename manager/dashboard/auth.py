"""Who may use the dashboard, and proof that a dashboard action comes from its own page.

Login: HTTP Basic with ``dashboard_password`` (any user name), from any
address including the manager's own machine; a manager without one refuses
the dashboard and ``/metrics`` with a message naming the setting (the farm
sets one). Flamenco 2's open dashboard let anyone who could reach it, or any
local process, forget every worker (D.1.13).

CSRF: a browser sends Basic credentials with any request to the manager,
also one a foreign page makes it send, so every state-changing dashboard
action also needs ``csrf_token`` (a form field or the ``X-CSRF-Token``
header): an HMAC of the password with a random key of this process, which
the dashboard's page (and ``/as-json``) hands out and a foreign page cannot
read.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

from aiohttp import web

from flamenco_manager.api.auth import Handler, basic_auth, context
from flamenco_manager.api.errors import error_response

REALM = "Flamenco Manager dashboard"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# Random per process: tokens stop working when the manager restarts (reload the page).
_CSRF_KEY = secrets.token_bytes(32)


def csrf_token(request: web.Request) -> str:
    password = context(request).config.dashboard_password
    return hmac.new(_CSRF_KEY, password.encode(), hashlib.sha256).hexdigest()


def require_human(view: Handler) -> Handler:
    """Basic auth with ``dashboard_password``; 401 without it, 403 when the manager has none."""
    @functools.wraps(view)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        password = context(request).config.dashboard_password
        if not password:
            return error_response(403, "the dashboard needs a login: set dashboard_password")
        auth = basic_auth(request)
        given = auth.password if auth is not None else ""
        if not hmac.compare_digest(given.encode(), password.encode()):
            return error_response(401, "dashboard password required",
                                  headers={"WWW-Authenticate": f'Basic realm="{REALM}"'})
        return await view(request)

    return wrapper


def require_csrf(view: Handler) -> Handler:
    """For state-changing actions: the page's CSRF token, as a form field or header (403 without)."""
    @functools.wraps(view)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        given = request.headers.get(CSRF_HEADER, "")
        if not given and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            given = str((await request.post()).get(CSRF_FIELD, ""))
        if not hmac.compare_digest(given.encode(), csrf_token(request).encode()):
            return error_response(403, f"missing or wrong {CSRF_FIELD} (reload the dashboard page)",
                                  field=CSRF_FIELD)
        return await view(request)

    return wrapper
