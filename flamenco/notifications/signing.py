"""Signing webhook bodies, and the check a receiver makes (HMAC-SHA256, Stripe style).

The server sends ``X-Flamenco-Timestamp: <unix seconds>`` and
``X-Flamenco-Signature: sha256=<hex>``, where the hex digest is
HMAC-SHA256(secret, "<timestamp>.<raw body>"). Including the timestamp in the
signed material lets a receiver refuse old (replayed) requests; the event id
in the body and in ``X-Flamenco-Event-Id`` lets it drop duplicates of a
retried delivery. :func:`verify` is what a receiver runs (README shows it
stand-alone); the tests use it against real deliveries.
"""
from __future__ import annotations

import hashlib
import hmac

from flamenco.notifications import defaults


def signed_material(timestamp: int, body: bytes) -> bytes:
    """The bytes the signature covers: ``b"<timestamp>." + body``."""
    return str(int(timestamp)).encode("ascii") + b"." + body


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Flamenco-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode("utf-8"), signed_material(timestamp, body), hashlib.sha256).hexdigest()
    return defaults.SIGNATURE_PREFIX + digest


def signature_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Timestamp and signature headers of one delivery attempt."""
    return {defaults.TIMESTAMP_HEADER: str(int(timestamp)),
            defaults.SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(secret: str, body: bytes, timestamp_header: str | None, signature_header: str | None, *,
           now: float, tolerance: float = defaults.SIGNATURE_TOLERANCE_SECONDS) -> bool:
    """True if the headers sign ``body`` with ``secret`` and the timestamp is within
    ``tolerance`` seconds of ``now``; compares in constant time."""
    if not timestamp_header or not signature_header or not timestamp_header.isdecimal():
        return False
    timestamp = int(timestamp_header)
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), signature_header)
