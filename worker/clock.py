"""The worker's clock: what time it is, and waiting. Injected, so tests move time themselves.

Every time-based decision of the worker asks a :class:`Clock`: the fetch
loop's waits (no task, errors, after a task, back-pressure, the ``error``
state, asleep polling), may-i-run polling, the update queue's back-off, the
reporter's push intervals and log timestamps, the output-produced throttle,
registration retries and the registration token's issue time, command
timings, the ``sleep`` command, and Blender's missing-file re-check and
activity throttle. The objects that decide take a ``clock`` in their
constructor (for commands: :class:`~flamenco_worker.commands.CommandConfig`),
defaulting to :data:`SYSTEM_CLOCK`; ``run_worker`` hands the same one to all.

Deliberately on real time, because they bound work of the operating system or
the network, which takes real seconds whatever a test's clock says: HTTP
timeouts (httpx), a subprocess's output timeout, terminate grace period and
exit polling (:mod:`flamenco_worker.commands.processes`), the SSDP socket
timeouts, ``nvidia-smi``'s timeout, the bound on the final flush and sign-off
at shutdown, and file modification times.

The manager's clock is a plain ``() -> datetime`` (``ManagerContext.clock``)
because the manager only reads the time; the worker also waits, so its clock
has :meth:`Clock.sleep` too.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Protocol


class Clock(Protocol):
    """Where the worker reads the time and waits."""

    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC: for timestamps (log lines, queued updates)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start that never run backwards: for intervals and durations."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after ``seconds`` of this clock's time (at once when ``seconds <= 0``)."""
        ...


class SystemClock:
    """The real clock: the machine's UTC time, ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()
"""The clock of a real worker; every constructor that takes a clock defaults to it."""


async def wait_for_event(clock: Clock, event: asyncio.Event, seconds: float, *, name: str = "wait") -> bool:
    """Wait until ``event`` is set or ``seconds`` of ``clock`` time passed; True when the event was set.

    The clock's sleep runs as a task called ``name``, so a test's fake clock can
    tell whose wait it is ending. Cancelling the caller cancels both waits.
    """
    if event.is_set():
        return True
    sleeper = asyncio.create_task(clock.sleep(seconds), name=name)
    setter = asyncio.create_task(event.wait(), name=f"{name}-event")
    try:
        await asyncio.wait({sleeper, setter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        setter.cancel()
        await asyncio.gather(sleeper, setter, return_exceptions=True)
    return event.is_set()
