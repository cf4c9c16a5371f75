"""One attempt at delivering a logged notification: a signed POST or an e-mail.

The Celery tasks (:mod:`flamenco.notifications.tasks`) call these with the
attempt number and retry when told to; tests call them directly. An attempt
first re-checks what may have changed since the delivery was queued (the
webhook deleted, the host no longer allowed), then sends, then appends what
happened to the delivery log. A delivery already ``delivered`` or ``failed``
is left alone, so a redelivered Celery message never sends twice.
"""
from __future__ import annotations

import dataclasses
import smtplib
import time
from email.message import EmailMessage
from typing import Any, Callable, Mapping

import httpx
from pymongo.database import Database

from flamenco import clock
from flamenco.notifications import crypto, defaults, deliveries, signing, validation

FINISHED_STATES = (deliveries.DELIVERED, deliveries.FAILED)


@dataclasses.dataclass(frozen=True)
class SendSettings:
    """The server settings an attempt needs (from ``flamenco/defaults.py`` and the environment)."""

    secret_key: str
    allowed_hosts: tuple[str, ...]
    max_attempts: int
    smtp_host: str
    smtp_port: int
    smtp_from: str
    smtp_starttls: bool
    smtp_username: str
    smtp_password: str

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> "SendSettings":
        return cls(secret_key=cfg["SECRET_KEY"], allowed_hosts=tuple(cfg["WEBHOOK_ALLOWED_HOSTS"]),
                   max_attempts=int(cfg["NOTIFICATION_MAX_ATTEMPTS"]), smtp_host=cfg["SMTP_HOST"],
                   smtp_port=int(cfg["SMTP_PORT"]), smtp_from=cfg["SMTP_FROM"],
                   smtp_starttls=bool(cfg["SMTP_STARTTLS"]), smtp_username=cfg["SMTP_USERNAME"],
                   smtp_password=cfg["SMTP_PASSWORD"])


def retry_delay(number: int, base: float, cap: float) -> float:
    """Seconds to wait after failed attempt ``number`` (1-based): doubling from ``base``, at most ``cap``."""
    return min(base * 2 ** (number - 1), cap)


class _Failure(Exception):
    """An attempt that did not deliver; ``retryable`` says whether trying again may help."""

    def __init__(self, error: str, *, retryable: bool, status_code: int | None = None) -> None:
        super().__init__(error)
        self.retryable = retryable
        self.status_code = status_code


def _run_attempt(db: Database, delivery: dict, number: int, max_attempts: int,
                 send: Callable[[], int | None]) -> str:
    """Call ``send`` (returns a status code), log the attempt, and return the delivery's new state."""
    started = time.monotonic()
    status_code: int | None = None
    error = ""
    try:
        status_code = send()
        state = deliveries.DELIVERED
    except _Failure as failure:
        status_code, error = failure.status_code, str(failure)[:defaults.ERROR_MAX_CHARS]
        state = deliveries.RETRYING if failure.retryable and number < max_attempts else deliveries.FAILED
    now = clock.utcnow()
    attempt = {"number": number, "at": now, "duration_ms": round((time.monotonic() - started) * 1000),
               "status_code": status_code, "error": error}
    deliveries.record_attempt(db, delivery["_id"], attempt, state, now)
    return state


def attempt_webhook(db: Database, delivery: dict, number: int, settings: SendSettings, *,
                    clock: Callable[[], float] = time.time) -> str:
    """POST the delivery's body to its webhook, signed; return the delivery's new state."""
    if delivery["state"] in FINISHED_STATES:
        return delivery["state"]

    def send() -> int:
        webhook = db[defaults.WEBHOOKS].find_one({"_id": delivery["webhook"]})
        if webhook is None:
            raise _Failure("webhook was deleted", retryable=False)
        host = httpx.URL(webhook["url"]).host
        if not validation.host_allowed(host, settings.allowed_hosts):
            raise _Failure(f"host {host!r} is not in WEBHOOK_ALLOWED_HOSTS", retryable=False)
        try:
            secret = crypto.decrypt(settings.secret_key, webhook["secret_encrypted"])
        except crypto.SecretUnreadable as ex:
            raise _Failure(str(ex), retryable=False) from None
        return _post(webhook["url"], delivery, secret, int(clock()))

    return _run_attempt(db, delivery, number, settings.max_attempts, send)


def _post(url: str, delivery: dict, secret: str, timestamp: int) -> int:
    body = delivery["body"].encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": defaults.USER_AGENT,
               defaults.EVENT_HEADER: delivery["event"], defaults.EVENT_ID_HEADER: delivery["event_id"],
               **signing.signature_headers(secret, timestamp, body)}
    try:
        # Redirects are not followed: a receiver must not bounce our request elsewhere (SSRF).
        response = httpx.post(url, content=body, headers=headers, timeout=defaults.HTTP_TIMEOUT_SECONDS,
                              follow_redirects=False)
    except httpx.HTTPError as ex:
        raise _Failure(f"{type(ex).__name__}: {ex}", retryable=True) from None
    code = response.status_code
    if 200 <= code < 300:
        return code
    retryable = code >= 500 or code in defaults.RETRYABLE_CLIENT_ERRORS
    raise _Failure(f"receiver answered {code} {response.reason_phrase}".strip(), retryable=retryable,
                   status_code=code)


def attempt_email(db: Database, delivery: dict, number: int, settings: SendSettings) -> str:
    """Send the delivery's e-mail through the configured SMTP server; return its new state."""
    if delivery["state"] in FINISHED_STATES:
        return delivery["state"]

    def send() -> int | None:
        if not settings.smtp_host:
            raise _Failure("e-mail is off: the server has no SMTP_HOST", retryable=False)
        message = EmailMessage()
        message["From"] = settings.smtp_from
        message["To"] = ", ".join(delivery["recipients"])
        message["Subject"] = delivery["subject"]
        message["Message-ID"] = f"<{delivery['event_id']}.{delivery['_id']}@flamenco>"
        message.set_content(delivery["text"])
        return _smtp_send(settings, message)

    return _run_attempt(db, delivery, number, settings.max_attempts, send)


def _smtp_send(settings: SendSettings, message: EmailMessage) -> int | None:
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=defaults.SMTP_TIMEOUT_SECONDS) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            refused = smtp.send_message(message)
    except smtplib.SMTPResponseException as ex:
        # 5xx: the server refuses this message for good; 4xx: try again later.
        raise _Failure(f"SMTP server answered {ex.smtp_code}", retryable=ex.smtp_code < 500,
                       status_code=ex.smtp_code) from None
    except smtplib.SMTPRecipientsRefused:
        raise _Failure("SMTP server refused every recipient", retryable=False) from None
    except (OSError, smtplib.SMTPException) as ex:
        raise _Failure(f"{type(ex).__name__}: {ex}", retryable=True) from None
    if refused:
        raise _Failure(f"SMTP server refused {', '.join(sorted(refused))}", retryable=False)
    return 250
