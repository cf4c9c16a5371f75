"""The ``schedule`` of a ``set-sleep-schedule`` worker action, checked before it is queued.

The Manager applies it with ``flamenco_manager.sleep_schedule.set_schedule``,
which checks it again (the server cannot import the Manager's package: it
installs without it); the rules here are the same, so a user hears about a
bad schedule at once, naming the field, not as a warning in a Manager's log.
A window may cross midnight (``22:00``-``06:00``); blank days mean every day,
a blank start 00:00 and a blank end 24:00.
"""
from __future__ import annotations

import re
from typing import Any


class ScheduleError(ValueError):
    """A bad schedule; ``field`` names the part (``schedule.time_start``)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

FIELDS = ("schedule_active", "days_of_week", "time_start", "time_end")
DAY_NAMES = ("mo", "tu", "we", "th", "fr", "sa", "su")
_TIME = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d$|^24:00$")
# Seven day names and their separators; anything longer is not a list of days.
MAX_DAYS_LENGTH = 64


def _text(schedule: dict, key: str) -> str:
    value = schedule.get(key) or ""
    if not isinstance(value, str):
        raise ScheduleError(f"schedule.{key}", "must be a string")
    return value.strip()


def _check_days(text: str) -> str:
    tokens = text.lower().split()
    if len(text) > MAX_DAYS_LENGTH or any(t[:2] not in DAY_NAMES or len(t) < 2 for t in tokens):
        raise ScheduleError("schedule.days_of_week", "use day names: mo tu we th fr sa su (blank: every day)")
    return " ".join(DAY_NAMES[DAY_NAMES.index(t[:2])] for t in tokens)


def _check_time(schedule: dict, key: str) -> str:
    text = _text(schedule, key)
    if text and not _TIME.match(text):
        raise ScheduleError(f"schedule.{key}", f"expected HH:MM (00:00 to 24:00), got {text!r}")
    return text


def parse(payload: dict) -> dict[str, Any]:
    """The action's ``schedule`` object, cleaned: ``{schedule_active, days_of_week, time_start, time_end}``."""
    schedule = payload.get("schedule")
    if not isinstance(schedule, dict):
        raise ScheduleError("schedule", "required: {schedule_active, days_of_week, time_start, time_end}")
    unknown = sorted(set(schedule) - set(FIELDS))
    if unknown:
        raise ScheduleError(f"schedule.{unknown[0]}", f"unknown field; send only {', '.join(FIELDS)}")
    active = schedule.get("schedule_active", False)
    if not isinstance(active, bool):
        raise ScheduleError("schedule.schedule_active", "must be true or false")
    return {"schedule_active": active, "days_of_week": _check_days(_text(schedule, "days_of_week")),
            "time_start": _check_time(schedule, "time_start"), "time_end": _check_time(schedule, "time_end")}
