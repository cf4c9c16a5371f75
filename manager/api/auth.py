"""Worker authentication: HTTP Basic (worker id, secret), and the registration PSK."""
from __future__ import annotations

import functools
from typing import Callable

import jwt
from flask import Response, g, request

from flamenco_manager import workers
from flamenco_manager.api.errors import error_response
from flamenco_manager.context import ManagerContext

REALM = "Flamenco Manager"


def context() -> ManagerContext:
    from flask import current_app
    return current_app.extensions["flamenco_manager"]


def require_worker(view: Callable) -> Callable:
    """Authenticate the worker; the view finds it in ``g.worker``. 401 otherwise."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        auth = request.authorization
        worker = None
        if auth is not None and auth.type == "basic" and auth.username:
            worker = workers.authenticate(context(), auth.username, auth.password or "")
        if worker is None:
            response: Response = error_response(401, "worker authentication required")
            response.headers["WWW-Authenticate"] = f'Basic realm="{REALM}"'
            return response
        g.worker = worker
        return view(*args, **kwargs)

    return wrapper


def registration_allowed(secret: str) -> str | None:
    """None when the request may register a worker; otherwise the reason it may not.

    With a ``worker_registration_secret`` the request needs ``Authorization:
    Bearer <JWT>`` signed with it (HS256), as the Flamenco 2 worker sends.
    """
    if not secret:
        return None
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return "a Bearer token signed with the registration secret is required"
    try:
        jwt.decode(header[7:].strip(), secret, algorithms=["HS256", "HS384", "HS512"],
                   options={"require": []})
    except jwt.PyJWTError as ex:
        return f"invalid registration token: {ex}"
    return None


def remote_address() -> str:
    return request.remote_addr or ""


def user_agent() -> str:
    return request.headers.get("User-Agent", "")
