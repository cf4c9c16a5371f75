"""Who may use the dashboard.

With ``dashboard_password`` set: HTTP Basic with that password (any user
name). Without it: only requests from the manager's own machine, so a fresh
install is never open to the network (the original's web setup was, D.1.13).
"""
from __future__ import annotations

import functools
import hmac
import ipaddress
from typing import Callable

from flask import Response, request

from flamenco_manager.api.auth import context
from flamenco_manager.api.errors import error_response

REALM = "Flamenco Manager dashboard"


def _is_loopback(address: str | None) -> bool:
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False


def require_human(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        password = context().config.dashboard_password
        if password:
            auth = request.authorization
            given = (auth.password or "") if auth is not None and auth.type == "basic" else ""
            if not hmac.compare_digest(given.encode(), password.encode()):
                response: Response = error_response(401, "dashboard password required")
                response.headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'
                return response
        elif not _is_loopback(request.remote_addr):
            return error_response(403, "set dashboard_password to use the dashboard from another machine")
        return view(*args, **kwargs)

    return wrapper
