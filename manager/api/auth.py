"""Worker authentication: HTTP Basic (worker id, secret), and the registration PSK."""
from __future__ import annotations

import asyncio
import functools
from typing import Awaitable, Callable

import jwt
from aiohttp import BasicAuth, web

from flamenco_manager import workers
from flamenco_manager.api.errors import error_response
from flamenco_manager.context import ManagerContext

REALM = "Flamenco Manager"
CTX_KEY = web.AppKey("flamenco_manager", ManagerContext)
# The authenticated worker's document, for the view.
WORKER_KEY = web.RequestKey("worker", dict)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def context(request: web.Request) -> ManagerContext:
    return request.app[CTX_KEY]


def basic_auth(request: web.Request) -> BasicAuth | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        return BasicAuth.decode(header, encoding="utf-8")
    except ValueError:
        return None


def require_worker(view: Handler) -> Handler:
    """Authenticate the worker; the view finds it in ``request[WORKER_KEY]``. 401 otherwise."""

    @functools.wraps(view)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        auth = basic_auth(request)
        worker = None
        if auth is not None and auth.login:
            worker = await _authenticate(context(request), auth.login, auth.password or "")
        if worker is None:
            return error_response(401, "worker authentication required",
                                  headers={"WWW-Authenticate": f'Basic realm="{REALM}"'})
        request[WORKER_KEY] = worker
        return await view(request)

    return wrapper


async def _authenticate(ctx: ManagerContext, worker_id: str, secret: str) -> dict | None:
    """The worker, or None; a first bcrypt check runs in a thread so the loop keeps serving."""
    worker = workers.find_credentials(ctx, worker_id)
    if worker is None:
        return None
    known = workers.verified_before(worker, secret)
    if known is None:
        hashed = bytes(worker["hashed_secret"])
        known = await asyncio.get_running_loop().run_in_executor(None, workers.check_secret, secret, hashed)
        if known:
            workers.remember_verified(worker, secret)
    return worker if known else None


def registration_allowed(request: web.Request, secret: str) -> str | None:
    """None when the request may register a worker; otherwise the reason it may not.

    With a ``worker_registration_secret`` the request needs ``Authorization:
    Bearer <JWT>`` signed with it (HS256), as the Flamenco 2 worker sends.
    Without one, only a manager configured with ``worker_registration_open``
    accepts anyone.
    """
    if not secret:
        if context(request).config.worker_registration_open:
            return None
        return ("this manager has no worker_registration_secret; set one (and give it to the workers), "
                "or set worker_registration_open: true to let anyone who can reach it register")
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return "a Bearer token signed with the registration secret is required"
    try:
        jwt.decode(header[7:].strip(), secret, algorithms=["HS256", "HS384", "HS512"],
                   options={"require": []})
    except jwt.PyJWTError as ex:
        return f"invalid registration token: {ex}"
    return None


def remote_address(request: web.Request) -> str:
    return request.remote or ""


def user_agent(request: web.Request) -> str:
    return request.headers.get("User-Agent", "")
