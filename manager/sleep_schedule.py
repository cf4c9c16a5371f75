"""Per-worker sleep schedules (reference A.5.10), with the original's gaps fixed.

Fixes (reference D.1.9): a window may cross midnight (22:00-06:00); on a day
not listed the worker is awake rather than left as it was; day names are
checked instead of crashing on a one-letter token. The schedule is evaluated
at its boundaries (``next_check``), so a manual change sticks until the next one.
"""
from __future__ import annotations

import datetime as dt
import re

from bson import ObjectId

from flamenco_manager import workers
from flamenco_manager.context import ManagerContext
from flamenco_manager.engine import on_engine
from flamenco_protocol.statuses import WorkerStatus

DAY_NAMES = ("mo", "tu", "we", "th", "fr", "sa", "su")
MINUTES_PER_DAY = 24 * 60
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


class ScheduleError(ValueError):
    """An invalid schedule; ``field`` says which part."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse_time(field: str, text: str | None, empty: int) -> int:
    """Minutes after midnight from ``"HH:MM"``; ``empty`` when blank."""
    if not text:
        return empty
    match = _TIME.match(text.strip())
    if not match or int(match.group(1)) > 24 or int(match.group(2)) > 59:
        raise ScheduleError(field, f"expected HH:MM, got {text!r}")
    minutes = int(match.group(1)) * 60 + int(match.group(2))
    if minutes > MINUTES_PER_DAY:
        raise ScheduleError(field, f"expected at most 24:00, got {text!r}")
    return minutes


def parse_days(text: str | None) -> set[int]:
    """Weekday numbers (Monday 0) from ``"mo tu we"``; every day when blank."""
    tokens = (text or "").lower().split()
    if not tokens:
        return set(range(7))
    days = set()
    for token in tokens:
        if len(token) < 2 or token[:2] not in DAY_NAMES:
            raise ScheduleError("days_of_week", f"unknown day {token!r}; use mo tu we th fr sa su")
        days.add(DAY_NAMES.index(token[:2]))
    return days


def validate(schedule: dict) -> dict:
    """A cleaned schedule document from the dashboard's JSON."""
    if not isinstance(schedule.get("schedule_active", False), bool):
        raise ScheduleError("schedule_active", "must be true or false")
    for key in ("days_of_week", "time_start", "time_end"):
        if schedule.get(key) is not None and not isinstance(schedule[key], str):
            raise ScheduleError(key, "must be a string")
    parse_days(schedule.get("days_of_week"))
    parse_time("time_start", schedule.get("time_start"), 0)
    parse_time("time_end", schedule.get("time_end"), MINUTES_PER_DAY)
    return {"schedule_active": bool(schedule.get("schedule_active")),
            "days_of_week": schedule.get("days_of_week") or "",
            "time_start": schedule.get("time_start") or "",
            "time_end": schedule.get("time_end") or ""}


def desired_status(schedule: dict, local_now: dt.datetime) -> str:
    """``asleep`` inside a window on a listed day, else ``awake``."""
    start = parse_time("time_start", schedule.get("time_start"), 0)
    end = parse_time("time_end", schedule.get("time_end"), MINUTES_PER_DAY)
    days = parse_days(schedule.get("days_of_week"))
    minute = local_now.hour * 60 + local_now.minute
    weekday = local_now.weekday()
    if start <= end:
        inside, window_day = start <= minute < end, weekday
    elif minute >= start:
        inside, window_day = True, weekday
    else:
        inside, window_day = minute < end, (weekday - 1) % 7
    return WorkerStatus.ASLEEP if inside and window_day in days else WorkerStatus.AWAKE


def next_check(schedule: dict, local_now: dt.datetime) -> dt.datetime:
    """The next boundary after ``local_now``: start, end, or midnight."""
    midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    candidates = [midnight + dt.timedelta(days=1)]
    for key, empty in (("time_start", 0), ("time_end", MINUTES_PER_DAY)):
        minutes = parse_time(key, schedule.get(key), empty)
        for day in (0, 1):
            moment = midnight + dt.timedelta(days=day, minutes=minutes)
            if moment > local_now:
                candidates.append(moment)
    return min(candidates)


@on_engine
def set_schedule(ctx: ManagerContext, worker_id: ObjectId, schedule: dict) -> bool:
    """Store a schedule and apply it now; False when there is no such worker."""
    clean = validate(schedule)
    worker = ctx.state.workers.get(worker_id)
    if worker is None:
        return False
    workers.change(ctx, worker, {"sleep_schedule": clean})
    if clean["schedule_active"]:
        _apply(ctx, worker)
    return True


@on_engine
def apply_due(ctx: ManagerContext) -> int:
    """Apply every active schedule whose ``next_check`` has come; return how many changed a worker."""
    now = ctx.now()
    changed = 0
    for worker in list(ctx.state.workers.values()):
        schedule = worker.get("sleep_schedule") or {}
        if not schedule.get("schedule_active"):
            continue
        due = schedule.get("next_check")
        if due is None or due <= now:
            changed += _apply(ctx, worker)
    return changed


def _apply(ctx: ManagerContext, worker: dict) -> bool:
    schedule = worker["sleep_schedule"]
    local_now = ctx.now().astimezone()
    wanted = desired_status(schedule, local_now)
    schedule["next_check"] = next_check(schedule, local_now).astimezone(dt.timezone.utc)
    workers.change(ctx, worker, {"sleep_schedule": dict(schedule)})
    is_asleep = worker.get("status") == WorkerStatus.ASLEEP
    if (wanted == WorkerStatus.ASLEEP) == is_asleep and not worker.get("status_requested"):
        return False
    if worker.get("status_requested") == wanted:
        return False
    workers.request_status_change(ctx, worker["_id"], wanted, lazy=False)
    return True
