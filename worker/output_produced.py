"""Throttled ``POST /output-produced``: tells the manager about new images for its "latest image".

Flamenco 2 sent one call per 30 s and dropped every other path of that
window (D.2.18); here paths produced meanwhile are collected and sent
together at the next opportunity. The call is best-effort (the manager
itself drops them when busy), so it bypasses the persistent update queue.
"""
from __future__ import annotations

import asyncio
import logging
import math

from flamenco_protocol import wire
from flamenco_worker.clock import SYSTEM_CLOCK, Clock
from flamenco_worker.upstream import ManagerClient, ManagerUnreachable

log = logging.getLogger(__name__)

SENDER_TASK = "output-produced"
"""Name of the task that waits out the throttle and sends (tests wait for it on their clock)."""


class OutputProducedSender:
    """Collects produced paths and sends them at most once per ``interval`` seconds of ``clock``."""

    def __init__(self, client: ManagerClient, interval: float, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._client = client
        self._interval = interval
        self._clock = clock
        self._paths: list[str] = []
        self._last_sent = -math.inf
        self._sender: asyncio.Task[None] | None = None

    def add(self, *paths: str) -> None:
        """Remember ``paths``; they go out now or when the throttle allows."""
        self._paths.extend(p for p in paths if p not in self._paths)
        if self._paths and (self._sender is None or self._sender.done()):
            self._sender = asyncio.create_task(self._send_when_allowed(), name=SENDER_TASK)

    async def _send_when_allowed(self) -> None:
        """Send batches until no path is left, waiting out the throttle before each."""
        while self._paths:
            wait = self._last_sent + self._interval - self._clock.monotonic()
            if wait > 0:
                await self._clock.sleep(wait)
            paths, self._paths = self._paths, []
            self._last_sent = self._clock.monotonic()
            await self._send(paths)

    async def _send(self, paths: list[str]) -> None:
        try:
            response = await self._client.post("/output-produced", json={wire.PATHS: paths})
        except ManagerUnreachable as ex:
            log.info("output-produced not delivered: %s", ex)
            return
        if response.status_code >= 300:
            log.warning("manager answered %d to output-produced: %s", response.status_code, response.text[:200])

    async def aclose(self) -> None:
        """Stop a pending send; produced paths are only a preview, so losing them is fine."""
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
