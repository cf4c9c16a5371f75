"""Registration and sign-on (reference B.2).

A new worker makes up its own 64-character secret, registers with it, and
stores the id the manager hands out next to the secret in its credentials
file. Every start signs on with those credentials; a 401 means the manager
forgot us (a new database, a removed worker), so we register again, once.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import platform
import secrets
import socket
import string
from typing import Any

import httpx

from flamenco_protocol import wire
from flamenco_worker import defaults
from flamenco_worker.clock import SYSTEM_CLOCK, Clock
from flamenco_worker.config import WorkerConfig, save_credentials
from flamenco_worker.machine import machine_info
from flamenco_worker.resources import detect_resources
from flamenco_worker.upstream import ManagerClient, ManagerUnreachable, json_object

log = logging.getLogger(__name__)

SECRET_ALPHABET = string.ascii_letters + string.digits
"""Characters of the self-generated secret (Flamenco 2's choice: safe in any config file)."""

RETRYABLE_STATUSES = frozenset({408, 425, 429})
"""4xx answers to registration or sign-on that may go away by themselves."""


class UnableToRegisterError(Exception):
    """The manager refused registration or sign-on for a reason retrying will not fix."""


class CredentialsRejected(Exception):
    """The manager answered 401 to our credentials."""


def generate_secret(length: int = defaults.SECRET_LENGTH) -> str:
    return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(length))


def detect_platform() -> str:
    """``linux``, ``windows`` or ``darwin``: the names the manager's path variables use."""
    return platform.system().lower()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def registration_token(psk: str, now: float | None = None) -> str:
    """An HS256 JWT ``{iat, exp}`` signed with the registration PSK (what the manager checks).

    ``now`` is the Unix time of issue; None means the system clock's. Written
    with hmac rather than PyJWT: the worker installs with few dependencies.
    """
    issued = int(SYSTEM_CLOCK.now().timestamp() if now is None else now)
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"iat": issued, "exp": issued + defaults.REGISTRATION_TOKEN_LIFETIME_SECONDS}
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(psk.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


def nickname(config: WorkerConfig) -> str:
    return config.nickname or socket.gethostname()


async def _keep_posting(
    client: ManagerClient, config: WorkerConfig, clock: Clock, path: str, **kwargs: Any,
) -> httpx.Response:
    """POST until the manager gives a definite answer; retry network errors and 5xx for ever, waiting on ``clock``.

    401 raises CredentialsRejected; 403 and other 4xx raise UnableToRegisterError.
    """
    while True:
        try:
            response = await client.post(path, **kwargs)
        except ManagerUnreachable as ex:
            log.warning("%s; retrying in %g s", ex, config.register_retry_seconds)
            await clock.sleep(config.register_retry_seconds)
            continue
        status = response.status_code
        if status < 300:
            return response
        if status == 401:
            raise CredentialsRejected(path)
        if status == 403:
            raise UnableToRegisterError(
                f"manager refused {path} (403): check worker_registration_secret. {response.text[:200]}")
        if 400 <= status < 500 and status not in RETRYABLE_STATUSES:
            raise UnableToRegisterError(f"manager refused {path} ({status}): {response.text[:200]}")
        log.warning("manager answered %d to %s; retrying in %g s", status, path, config.register_retry_seconds)
        await clock.sleep(config.register_retry_seconds)


async def register(client: ManagerClient, config: WorkerConfig, clock: Clock = SYSTEM_CLOCK) -> WorkerConfig:
    """Register as a new worker and store the credentials; returns the updated config."""
    secret = generate_secret()
    headers = {}
    if config.worker_registration_secret:
        token = registration_token(config.worker_registration_secret, clock.now().timestamp())
        headers["Authorization"] = f"Bearer {token}"
    body = {
        wire.SECRET: secret,
        wire.PLATFORM: detect_platform(),
        wire.SUPPORTED_TASK_TYPES: list(config.task_types),
        wire.NICKNAME: nickname(config),
        **await capabilities(config),
    }
    try:
        response = await _keep_posting(client, config, clock, "/register-worker", json=body, headers=headers,
                                       authenticated=False)
    except CredentialsRejected:
        raise UnableToRegisterError("manager answered 401 to /register-worker") from None
    worker = json_object(response)
    worker_id = worker.get("_id") if worker else None
    if not isinstance(worker_id, str) or not worker_id:
        raise UnableToRegisterError(f"manager's answer to /register-worker has no _id: {response.text[:200]}")
    log.info("registered at %s as worker %s", config.manager_url, worker_id)
    try:
        return save_credentials(config, worker_id, secret)
    except OSError as ex:
        raise UnableToRegisterError(f"cannot store the credentials in credentials_file "
                                    f"{config.credentials_file}: {ex}") from ex


async def capabilities(config: WorkerConfig) -> dict[str, Any]:
    """``tags`` and ``resources``: what jobs with requirements look for (optional fields; Flamenco 2
    managers ignore them). Detected on every call, so a machine that got more RAM says so at its next
    start; in a thread, because ``nvidia-smi`` may take seconds."""
    return {wire.TAGS: list(config.tags), wire.RESOURCES: await asyncio.to_thread(detect_resources)}


async def _sign_on_once(client: ManagerClient, config: WorkerConfig, clock: Clock) -> None:
    client.set_credentials(config.worker_id, config.worker_secret)
    body = {wire.SUPPORTED_TASK_TYPES: list(config.task_types), wire.NICKNAME: nickname(config),
            "machine": machine_info(), **await capabilities(config)}
    await _keep_posting(client, config, clock, "/sign-on", json=body)
    log.info("signed on at %s as worker %s", config.manager_url, config.worker_id)


async def register_and_sign_on(client: ManagerClient, config: WorkerConfig, *,
                               clock: Clock = SYSTEM_CLOCK) -> WorkerConfig:
    """Register if needed, then sign on; re-register once when the manager rejects our credentials.

    Returns the config with the credentials in use; raises UnableToRegisterError.
    Retries wait on ``clock``.
    """
    if not config.has_credentials:
        config = await register(client, config, clock)
    try:
        await _sign_on_once(client, config, clock)
        return config
    except CredentialsRejected:
        log.warning("manager rejected worker %s's credentials; registering again", config.worker_id)
    config = await register(client, config, clock)
    try:
        await _sign_on_once(client, config, clock)
    except CredentialsRejected:
        raise UnableToRegisterError("manager rejected the credentials it just gave out") from None
    return config
