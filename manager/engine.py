"""The dispatch engine: the one event loop that owns the Manager's state.

All state (``state.py``) lives in this loop's thread and is changed only
there, so no locks guard it. The worker API's handlers run in the loop too
(aiohttp, ``app.py``); everything else (the sync daemon's thread, the CLI,
tests) calls domain functions through :func:`on_engine`, which runs them in
the loop and returns once their changes are durable.

At start the engine takes the buffer's dispatch lock (a second process on
the same database is refused: it would hand out the same tasks) and rebuilds
the state from the buffer; it keeps the lock alive with a heartbeat.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import gc
import logging
import threading
import uuid
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Concatenate, ParamSpec, TypeVar

from flamenco_manager.journal import Journal
from flamenco_manager.state import State
from flamenco_manager.store import Store

if TYPE_CHECKING:
    from flamenco_manager.context import ManagerContext

log = logging.getLogger(__name__)

# The dispatch lock's heartbeat interval, and the age after which another
# host may take a silent lock over (a process on this host that is gone is
# replaced at once).
HEARTBEAT_SECONDS = 5.0
OWNER_STALE_SECONDS = 30.0
# How long a caller from another thread waits for the loop (and the flush).
CALL_TIMEOUT_SECONDS = 60.0
# Container allocations (net of frees) between two collections of Python's
# youngest generation, instead of the default 700 (tune_garbage_collector).
GC_YOUNG_THRESHOLD = 10_000

P = ParamSpec("P")
R = TypeVar("R")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop where it is installed (Linux, macOS), else asyncio's own."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def tune_garbage_collector() -> None:
    """Keep Python's cycle collector from stopping the event loop; once, in the serving process.

    With the defaults, 100 simulated workers completing 2,000 tasks made about
    400 young, 36 middle and 3 full collections: 0.4 s in all, 8 % of the
    manager's CPU, and each full collection stopped the loop for 57-67 ms,
    which every request in flight waited out (bench_dispatch, 2026-12-04).
    Requests create short-lived objects that reference counting frees, so a
    larger young generation collects 15-25x less often for the same work;
    none of the three full collections happened any more. What exists once
    the manager serves (modules, the state loaded from the buffer) is frozen:
    no later collection scans it again.

    Not in :class:`Engine`: tests run engines inside the test process, whose
    collector is not the manager's to change.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def wall_clock() -> dt.datetime:
    """Real time for the lock (the context's clock may be moved by tests)."""
    return dt.datetime.now(dt.timezone.utc)


class Engine:
    """An event loop in a thread of its own, its journal, and the dispatch lock."""

    def __init__(self, store: Store, commit_timeout: float) -> None:
        self.store = store
        self.owner = uuid.uuid4().hex
        self.loop = new_event_loop()
        self.journal = Journal(store, self.loop, commit_timeout)
        self.lost_lock = threading.Event()
        self._thread = threading.Thread(target=self._run_loop, name="dispatch", daemon=True)
        self._stopped = False
        self._heartbeat_task: asyncio.Task | None = None

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self, state: State) -> None:
        """Take the lock, load the state, start the loop and the journal."""
        self.store.acquire_owner(self.owner, wall_clock(), OWNER_STALE_SECONDS)
        try:
            state.load(self.store.load())
        except Exception:
            self.store.release_owner(self.owner)
            raise
        self._thread.start()
        self.submit(self._start_in_loop())

    async def _start_in_loop(self) -> None:
        self.journal.start()
        self._heartbeat_task = self.loop.create_task(self._heartbeat(), name="dispatch-heartbeat")

    async def _stop_in_loop(self) -> None:
        """Write what is left, then end every other task of the loop (open connections included)."""
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
        await self.journal.close()
        others = [t for t in asyncio.all_tasks(self.loop) if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                owned = await self.loop.run_in_executor(None, self.store.heartbeat, self.owner, wall_clock())
            except Exception as ex:  # noqa: BLE001 - a store hiccup; the next beat tries again
                log.warning("dispatch lock heartbeat failed: %s", ex)
                continue
            if not owned:
                log.critical("another process took over dispatch on this database; this one stops handing out tasks")
                self.lost_lock.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stopped

    def in_loop(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, coro: Awaitable[R], timeout: float = CALL_TIMEOUT_SECONDS) -> R:
        """Run a coroutine in the loop from another thread and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def call(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Run ``fn`` in the loop, then wait until its changes are durable; return its result."""
        async def run() -> R:
            result = fn(*args, **kwargs)
            await self.journal.commit()
            return result
        return self.submit(run())

    def stop(self) -> None:
        """Flush what is left, release the lock, stop the loop."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread.is_alive():
            try:
                self.submit(self._stop_in_loop(), timeout=30)
            except Exception as ex:  # noqa: BLE001 - stopping anyway
                log.error("closing the journal failed: %s", ex)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
        self.store.release_owner(self.owner)


def on_engine(fn: Callable[Concatenate["ManagerContext", P], R]) -> Callable[Concatenate["ManagerContext", P], R]:
    """Domain function decorator: called outside the loop, it runs in the loop and waits for durability.

    Inside the loop (the HTTP handlers) it is a plain call; the handler awaits
    ``ctx.journal.commit()`` before answering.
    """
    @functools.wraps(fn)
    def wrapper(ctx: "ManagerContext", *args: P.args, **kwargs: P.kwargs) -> R:
        if ctx.engine.in_loop():
            return fn(ctx, *args, **kwargs)
        return ctx.engine.call(fn, ctx, *args, **kwargs)
    return wrapper
