"""Who may use the dashboard.

With ``dashboard_password`` set: HTTP Basic with that password (any user
name). Without it: only requests from the manager's own machine, so a fresh
install is never open to the network (the original's web setup was, D.1.13).
"""
from __future__ import annotations

import functools
import hmac
import ipaddress

from aiohttp import web

from flamenco_manager.api.auth import Handler, basic_auth, context
from flamenco_manager.api.errors import error_response

REALM = "Flamenco Manager dashboard"


def _is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False


def require_human(view: Handler) -> Handler:
    @functools.wraps(view)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        password = context(request).config.dashboard_password
        if password:
            auth = basic_auth(request)
            given = auth.password if auth is not None else ""
            if not hmac.compare_digest(given.encode(), password.encode()):
                return error_response(401, "dashboard password required",
                                      headers={"WWW-Authenticate": f'Basic realm="{REALM}"'})
        elif not _is_loopback(request.remote):
            return error_response(403, "set dashboard_password to use the dashboard from another machine")
        return await view(request)

    return wrapper
