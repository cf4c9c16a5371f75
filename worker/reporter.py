"""Coalesces a task's activity, progress and log lines into pushes (reference B.4).

A *push* is one ``POST /tasks/<id>/update`` payload put into the
:class:`~flamenco_worker.update_queue.UpdateQueue`. Commands report often
(every log line, every progress step); the manager should hear about it at a
steady pace:

* a status change is pushed at once;
* activity/progress at most every ``push_act_max_interval_seconds``;
* log lines when more than ``push_log_max_entries`` wait, or at most every
  ``push_log_max_interval_seconds``;
* anything not pushed at once is pushed by one delayed push, so the last
  word always arrives.
"""
from __future__ import annotations

import asyncio
import datetime
import logging
from typing import Any

from flamenco_protocol import wire
from flamenco_worker.clock import SYSTEM_CLOCK, Clock
from flamenco_worker.update_queue import UpdateQueue

log = logging.getLogger(__name__)

ACTIVITY_FIELDS = (wire.ACTIVITY, wire.CURRENT_COMMAND_IDX, wire.TASK_PROGRESS_PERCENTAGE, wire.COMMAND_PROGRESS_PERCENTAGE)
"""The progress fields of a TaskUpdate that the worker fills in (reference A.2.6)."""


def log_line(message: str, now: datetime.datetime) -> str:
    """A task log line as Flamenco 2 wrote it: ``<UTC ISO-8601>: <message>``."""
    return f"{now.astimezone(datetime.timezone.utc).isoformat()}: {message}"


class TaskReporter:
    """Everything one task reports to the manager, coalesced; ``clock`` times the intervals and log lines."""

    def __init__(
        self,
        queue: UpdateQueue,
        task_id: str,
        *,
        act_interval: float,
        log_interval: float,
        log_max_entries: int,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.task_id = task_id
        self._queue = queue
        self._clock = clock
        self._act_interval = act_interval
        self._log_interval = log_interval
        self._log_max_entries = log_max_entries
        self._activity: dict[str, Any] = {
            wire.ACTIVITY: "", wire.CURRENT_COMMAND_IDX: 0, wire.TASK_PROGRESS_PERCENTAGE: 0,
            wire.COMMAND_PROGRESS_PERCENTAGE: 0,
        }
        self._timing: dict[str, float] = {}
        self._status: str | None = None
        self._logs: list[str] = []
        self._activity_pending = False
        # A new task starts with a status push; the intervals count from there.
        self._last_act_push = self._last_log_push = clock.monotonic()
        self._delayed: asyncio.Task[None] | None = None
        self._delayed_due = 0.0
        self.silently_aborting = False
        """Set when the manager withdrew the task: from then on only log lines are sent."""

    @property
    def url(self) -> str:
        return f"/tasks/{self.task_id}/update"

    async def update(self, task_status: str | None = None, **fields: Any) -> None:
        """Change the activity fields (and maybe the status); push when due."""
        unknown = set(fields) - set(ACTIVITY_FIELDS)
        if unknown:
            raise TypeError(f"not an activity field: {', '.join(sorted(unknown))}")
        status_changed = task_status is not None and task_status != self._status
        if task_status is not None:
            self._status = task_status
        self._activity.update(fields)
        self._activity_pending = True
        if status_changed or self._since(self._last_act_push) >= self._act_interval:
            await self.push()
        else:
            self._schedule_push(self._act_interval - self._since(self._last_act_push))

    async def log(self, message: str) -> None:
        """Queue one log line (timestamped here); push when due."""
        self._logs.append(log_line(message, self._clock.now()))
        if len(self._logs) > self._log_max_entries or self._since(self._last_log_push) >= self._log_interval:
            await self.push()
        else:
            self._schedule_push(self._log_interval - self._since(self._last_log_push))

    @property
    def timing(self) -> dict[str, float]:
        """Seconds per timing name so far (a copy)."""
        return dict(self._timing)

    def add_timing(self, name: str, seconds: float) -> None:
        """Add to the task's ``metrics.timing[name]``; durations of one name are summed."""
        self._timing[name] = self._timing.get(name, 0.0) + seconds

    async def push(self) -> None:
        """Queue everything pending as one update now; cancels the delayed push."""
        self._cancel_delayed()
        payload = self._payload()
        now = self._clock.monotonic()
        if self._activity_pending:
            self._last_act_push = now
        if self._logs:
            self._last_log_push = now
        self._activity_pending = False
        self._logs = []
        if payload:
            await self._queue.queue(self.url, payload)

    async def push_pending(self) -> None:
        """Push whatever waits for a delayed push (at the end of a task)."""
        if self._activity_pending or self._logs:
            await self.push()

    def close(self) -> None:
        """Drop the delayed push; call after :meth:`push_pending`."""
        self._cancel_delayed()

    def _payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {}
        if not self.silently_aborting and self._activity_pending:
            payload.update(self._activity)
            if self._timing:
                payload[wire.METRICS] = {wire.TIMING: dict(self._timing)}
            if self._status is not None:
                payload[wire.TASK_STATUS] = self._status
        if self._logs:
            payload[wire.LOG] = "\n".join(self._logs)
        return payload

    def _since(self, moment: float) -> float:
        return self._clock.monotonic() - moment

    def _schedule_push(self, delay: float) -> None:
        """Make sure one delayed push happens within ``delay`` seconds (the earliest due wins)."""
        due = self._clock.monotonic() + max(delay, 0.0)
        if self._delayed is not None and not self._delayed.done():
            if self._delayed_due <= due:
                return
            self._delayed.cancel()
        self._delayed_due = due
        self._delayed = asyncio.create_task(self._push_later(max(delay, 0.0)), name=f"push-{self.task_id}")

    async def _push_later(self, delay: float) -> None:
        await self._clock.sleep(delay)
        self._delayed = None  # this push must not cancel itself
        try:
            await self.push()
        except Exception:  # noqa: BLE001  a failed delayed push must not vanish silently
            log.exception("delayed push of task %s failed", self.task_id)

    def _cancel_delayed(self) -> None:
        if self._delayed is not None and self._delayed is not asyncio.current_task():
            self._delayed.cancel()
        self._delayed = None
