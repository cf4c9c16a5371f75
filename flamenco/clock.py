"""The server's one wall clock: timezone-aware UTC, at the precision the store keeps.

BSON dates hold milliseconds, so a time truncated here compares equal after a
round trip through the store, MongoDB or the local one (``_updated`` values
are compared for equality by the depsgraph and the task-update watermarks).
"""
from __future__ import annotations

import datetime


def utcnow() -> datetime.datetime:
    """Timezone-aware UTC now, truncated to milliseconds as BSON stores it."""
    return moment(datetime.datetime.now(datetime.timezone.utc))


def moment(now: datetime.datetime | None) -> datetime.datetime:
    """``now`` (default: UTC now) truncated to milliseconds, as BSON will store it."""
    if now is None:
        return utcnow()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def as_utc(value: datetime.datetime) -> datetime.datetime:
    """``value`` timezone-aware: a naive time is UTC, as a store client without ``tz_aware`` reads it."""
    return value if value.tzinfo is not None else value.replace(tzinfo=datetime.timezone.utc)
