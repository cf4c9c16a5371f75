"""What project admins may configure: webhook URLs and e-mail recipients.

Each check raises :class:`InvalidSetting` naming the field, which the API turns
into a 4xx with ``_issues`` and the dashboard into a message on the form.

Webhook URLs are requests the *server* makes, so a project admin could aim
them at services only the server's network reaches (SSRF). The URL must be
http(s) with a host, and when the deployer sets ``WEBHOOK_ALLOWED_HOSTS`` the
host must match one of its patterns; the delivery checks the list again (it
may have changed since) and never follows redirects, so a receiver cannot
bounce the request elsewhere.
"""
from __future__ import annotations

import fnmatch
import re
from typing import Iterable
from urllib.parse import urlsplit

from flamenco.notifications import defaults

ALLOWED_SCHEMES = ("http", "https")
# Pragmatic address check: one @, no spaces or angle brackets, a dot in the domain.
EMAIL_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


class InvalidSetting(ValueError):
    """A notification setting the server refuses; ``field`` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def host_allowed(host: str, allowed_hosts: Iterable[str]) -> bool:
    """True if ``allowed_hosts`` is empty or ``host`` matches one of its patterns."""
    patterns = [p.lower() for p in allowed_hosts]
    return not patterns or any(fnmatch.fnmatchcase(host.lower(), p) for p in patterns)


def check_webhook_url(url: object, allowed_hosts: Iterable[str]) -> str:
    """``url`` if a webhook may point at it, else :class:`InvalidSetting` for field ``url``."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidSetting("url", "required: the http(s) address that receives the POSTs")
    url = url.strip()
    if len(url) > defaults.URL_MAX_CHARS:
        raise InvalidSetting("url", f"longer than {defaults.URL_MAX_CHARS} characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as ex:
        raise InvalidSetting("url", f"not a valid URL: {ex}") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise InvalidSetting("url", f"scheme must be http or https, not {parts.scheme or 'none'!r}")
    if not host:
        raise InvalidSetting("url", "has no host name")
    if parts.username or parts.password:
        raise InvalidSetting("url", "must not carry a user name or password; the signature authenticates us")
    if not host_allowed(host, allowed_hosts):
        raise InvalidSetting("url", f"host {host!r} is not in the server's WEBHOOK_ALLOWED_HOSTS")
    return url


def check_recipients(value: object) -> list[str]:
    """A clean list of e-mail addresses, else :class:`InvalidSetting` for ``email_recipients``."""
    if isinstance(value, str):
        value = [part for part in re.split(r"[\s,;]+", value) if part]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidSetting("email_recipients", "must be a list of e-mail addresses")
    if len(value) > defaults.MAX_EMAIL_RECIPIENTS:
        raise InvalidSetting("email_recipients", f"at most {defaults.MAX_EMAIL_RECIPIENTS} addresses")
    cleaned: list[str] = []
    for address in (v.strip() for v in value):
        if not EMAIL_ADDRESS.match(address):
            raise InvalidSetting("email_recipients", f"{address!r} is not an e-mail address")
        if address not in cleaned:
            cleaned.append(address)
    return cleaned


def check_flag(value: object, field: str) -> bool:
    """A JSON boolean, else :class:`InvalidSetting` for ``field``."""
    if not isinstance(value, bool):
        raise InvalidSetting(field, "must be true or false")
    return value
