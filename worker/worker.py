"""The worker's life: sign on, fetch tasks, run them, obey status changes, shut down cleanly.

One coroutine (:meth:`FlamencoWorker.run`) loops over the worker's state
(reference B.3, B.6, B.7). Flamenco 2 scheduled fetches as loose callbacks, so
an ``awake`` request during a task could start a second fetch loop (D.2.5);
here there is exactly one loop, and every wait in it ends early when the
state changes (a signal, a may-i-run answer).

Stopping a task (the manager withdrew it, the worker goes to sleep or shuts
down) is always silent: no ``canceled`` status is sent, the remaining log is
pushed, and ``POST /tasks/<id>/return`` is queued behind the task's updates in
the persistent queue, so the manager gets the task back even when it is
unreachable at that moment (Flamenco 2 relied on sign-off there, D.2.13).
"""
from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import traceback
from typing import Any, Coroutine

from flamenco_protocol import wire
from flamenco_protocol.statuses import RUNNABLE_REQUESTED_STATUSES, TaskStatus, WorkerStatus
from flamenco_worker.clock import SYSTEM_CLOCK, Clock, wait_for_event
from flamenco_worker.commands import CommandConfig
from flamenco_worker.config import WorkerConfig
from flamenco_worker.machine import describe_load
from flamenco_worker.output_produced import OutputProducedSender
from flamenco_worker.pre_task_check import PreTaskCheckFailed, run_checks
from flamenco_worker.registration import UnableToRegisterError, nickname, register_and_sign_on
from flamenco_worker.reporter import TaskReporter
from flamenco_worker.runner import TaskFailed, TaskRunner
from flamenco_worker.update_queue import UpdateQueue
from flamenco_worker.upstream import ManagerClient, ManagerUnreachable, json_object

log = logging.getLogger(__name__)


class WorkerState(enum.Enum):
    STARTING = WorkerStatus.STARTING
    AWAKE = WorkerStatus.AWAKE
    TESTING = WorkerStatus.TESTING
    ASLEEP = WorkerStatus.ASLEEP
    ERROR = WorkerStatus.ERROR
    SHUTTING_DOWN = "shutting-down"  # this worker's own: never sent to the manager


FETCHING_STATES = (WorkerState.AWAKE, WorkerState.TESTING)
"""States in which the worker asks for tasks."""

LOOP_WAIT_TASK = "worker-loop-wait"
"""Name of the task that sleeps on the clock while the main loop waits (tests wait for it)."""


@dataclasses.dataclass
class RunningTask:
    """The task being executed, and why it was stopped (None while it may run)."""

    task_id: str
    reporter: TaskReporter
    runner: asyncio.Task[None] | None = None
    stop_reason: str | None = None


class FlamencoWorker:
    """Registration, fetch loop, task execution and status changes of one worker.

    ``clock`` decides every wait of the worker and of what it creates (reporters,
    task runners, commands, the output-produced throttle); the ``queue`` was made
    by the caller and should have been given the same clock.
    """

    def __init__(
        self,
        config: WorkerConfig,
        client: ManagerClient,
        queue: UpdateQueue,
        *,
        single: bool = False,
        test_mode: bool = False,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.config = config
        self.client = client
        self.queue = queue
        self.clock = clock
        self.single = single
        self.state = WorkerState.STARTING
        self._initial_state = WorkerState.TESTING if test_mode else WorkerState.AWAKE
        self._state_changed = asyncio.Event()
        self._current: RunningTask | None = None
        self._outputs = OutputProducedSender(client, config.output_produced_interval_seconds, clock=clock)
        self._command_config = CommandConfig(terminate_grace_seconds=config.terminate_grace_seconds,
                                             oom_score_adj=config.oom_score_adj,
                                             subprocess_pid_file=config.subprocess_pid_file,
                                             clock=clock)
        self._background: set[asyncio.Task[Any]] = set()
        self._startup: asyncio.Task[WorkerConfig] | None = None
        self._signed_on = False

    @property
    def current_task_id(self) -> str | None:
        """The task being executed, if any."""
        return self._current.task_id if self._current else None

    # ------------------------------------------------------------------ life cycle

    async def run(self) -> None:
        """Sign on, work until shut down, then sign off. Raises UnableToRegisterError."""
        queue_worker: asyncio.Task[None] | None = None
        try:
            self._startup = asyncio.create_task(register_and_sign_on(self.client, self.config, clock=self.clock),
                                                name="sign-on")
            try:
                self.config = await self._startup
            except asyncio.CancelledError:
                if self.state is not WorkerState.SHUTTING_DOWN:
                    raise
                return
            self._signed_on = True
            await self.queue.flush_once()  # returns queued by a previous run go out before we fetch
            queue_worker = asyncio.create_task(self.queue.work(), name="update-queue")
            if self.state is WorkerState.STARTING:
                self._set_state(self._initial_state)
                if self._initial_state is WorkerState.TESTING:
                    await self._ack(WorkerStatus.TESTING)
            await self._main_loop()
        finally:
            await self._shut_down(queue_worker)

    async def _main_loop(self) -> None:
        while self.state is not WorkerState.SHUTTING_DOWN:
            self._state_changed.clear()
            try:
                await self._step()
            except UnableToRegisterError:
                raise
            except Exception:  # noqa: BLE001  one bad round must not end the worker (Flamenco 2.2.1)
                log.exception("unexpected error; trying again in %g s", self.config.uncaught_retry_seconds)
                await self._wait(self.config.uncaught_retry_seconds)

    async def _step(self) -> None:
        """One round of whatever the current state does."""
        if self.state in FETCHING_STATES:
            await self._fetch_and_execute()
        elif self.state is WorkerState.ASLEEP:
            await self._poll_status_change()
        elif self.state is WorkerState.ERROR:
            if not await self._wait(self.config.error_state_seconds):
                await self.change_status(WorkerStatus.AWAKE)

    async def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` of the clock; True when the state changed meanwhile (the sleep ends early)."""
        return await wait_for_event(self.clock, self._state_changed, seconds, name=LOOP_WAIT_TASK)

    def _set_state(self, state: WorkerState) -> None:
        if self.state is WorkerState.SHUTTING_DOWN:
            return  # nothing leads back out of a shutdown
        log.info("worker state: %s -> %s", self.state.value, state.value)
        self.state = state
        self._state_changed.set()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` in the background, keeping a reference until it ends."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _shut_down(self, queue_worker: asyncio.Task[None] | None) -> None:
        """Final flush and sign-off (reference B.7), each bounded in time.

        The bound is real time, not the clock's: it limits network calls, and a
        worker told to stop must stop even under a test's clock that stands still.
        """
        self._set_state(WorkerState.SHUTTING_DOWN)
        await self._outputs.aclose()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if not self._signed_on:
            return
        try:
            async with asyncio.timeout(self.config.shutdown_flush_timeout_seconds):
                if queue_worker is not None:
                    await self.queue.stop_work(queue_worker)
                await self.queue.flush_once()
                response = await self.client.post("/sign-off")
                log.info("signed off (manager answered %d)", response.status_code)
        except (ManagerUnreachable, TimeoutError) as ex:
            log.warning("could not flush and sign off at shutdown: %s", ex or "timed out")
        finally:
            if queue_worker is not None:  # still running when the time ran out
                queue_worker.cancel()
                await asyncio.gather(queue_worker, return_exceptions=True)

    # ------------------------------------------------------------------ status changes

    def request_shutdown(self) -> None:
        """Stop the running task and leave the main loop (SIGINT, SIGTERM, ``shutdown`` requests)."""
        log.info("shutting down")
        self._set_state(WorkerState.SHUTTING_DOWN)
        self._stop_current_task("worker is shutting down")
        if self._startup is not None and not self._startup.done():
            self._startup.cancel()

    def request_status(self, status: str) -> None:
        """Apply a status change from outside the main loop (signals, may-i-run)."""
        self._spawn(self.change_status(status))

    async def change_status(self, requested: Any) -> None:
        """Go to the status the manager (or a signal) asks for; unknown ones mean sleep (reference B.7)."""
        if requested == WorkerStatus.SHUTDOWN:
            self.request_shutdown()  # not acknowledged: the sign-off tells the manager
        elif requested in RUNNABLE_REQUESTED_STATUSES:
            self._set_state(WorkerState(requested))
            await self._ack(requested)
        elif requested == WorkerStatus.ERROR:
            self._set_state(WorkerState.ERROR)
            await self._ack(WorkerStatus.ERROR)
        else:
            if requested != WorkerStatus.ASLEEP:
                log.error("manager requested unknown status %r; going to sleep instead", requested)
            self._stop_current_task("worker is going to sleep")
            self._set_state(WorkerState.ASLEEP)
            await self._ack(WorkerStatus.ASLEEP)

    async def _ack(self, status: str) -> None:
        """Acknowledge a status; a lost ack heals itself because the manager asks again."""
        try:
            response = await self.client.post(f"/ack-status-change/{status}")
        except ManagerUnreachable as ex:
            log.warning("could not acknowledge status %s: %s", status, ex)
            return
        if response.status_code >= 300:
            log.warning("manager answered %d to ack-status-change/%s", response.status_code, status)

    async def _poll_status_change(self) -> None:
        """While asleep: ask every ``asleep_poll_seconds`` whether to wake up."""
        if await self._wait(self.config.asleep_poll_seconds):
            return
        try:
            response = await self.client.get("/status-change")
        except ManagerUnreachable as ex:
            log.info("asleep, manager unreachable: %s", ex)
            return
        if response.status_code == 200:
            body = json_object(response) or {}
            await self.change_status(body.get(wire.STATUS_REQUESTED))
        elif response.status_code != 204:
            log.warning("manager answered %d to status-change: %s", response.status_code, response.text[:200])

    # ------------------------------------------------------------------ fetching

    async def _queue_too_full(self) -> bool:
        size = await self.queue.size()
        if size.updates > self.config.queue_backpressure_updates or size.bytes > self.config.queue_backpressure_bytes:
            log.info("%d updates (%d bytes) wait for the manager; not fetching a task", size.updates, size.bytes)
            return True
        return False

    async def _fetch_and_execute(self) -> None:
        """One round of reference B.3: back-pressure, pre-task checks, POST /task, execute, wait."""
        if await self._queue_too_full():
            await self._wait(self.config.queue_backpressure_recheck_seconds)
            return
        try:
            await run_checks(self.config.pre_task_check_read, self.config.pre_task_check_write)
        except PreTaskCheckFailed as ex:
            log.error("pre-task check failed, not fetching a task: %s", ex)
            await self.change_status(WorkerStatus.ERROR)
            return
        try:
            response = await self.client.post("/task", timeout=self.config.task_fetch_timeout_seconds)
        except ManagerUnreachable as ex:
            log.warning("cannot fetch a task: %s", ex)
            await self._wait(self.config.fetch_retry_after_error_seconds)
            return
        status = response.status_code
        if status == 204:
            await self._wait(self.config.fetch_retry_no_task_seconds)
            return
        if status == 423:
            await self.change_status((json_object(response) or {}).get(wire.STATUS_REQUESTED))
            return
        if status == 401:
            log.warning("manager rejected our credentials when fetching a task; signing on again")
            self.config = await register_and_sign_on(self.client, self.config, clock=self.clock)
            return
        task = json_object(response) if status == 200 else None
        if task is None or not isinstance(task.get("_id"), str):
            log.warning("unexpected answer %d to POST /task: %s", status, response.text[:200])
            await self._wait(self.config.fetch_retry_after_error_seconds)
            return
        await self.execute_task(task)
        if self.single:
            self.request_shutdown()
        elif self.state in FETCHING_STATES:
            await self._wait(self.config.fetch_after_task_seconds)

    # ------------------------------------------------------------------ executing

    def _new_reporter(self, task_id: str) -> TaskReporter:
        return TaskReporter(self.queue, task_id, clock=self.clock,
                            act_interval=self.config.push_act_max_interval_seconds,
                            log_interval=self.config.push_log_max_interval_seconds,
                            log_max_entries=self.config.push_log_max_entries)

    async def execute_task(self, task: dict[str, Any]) -> None:
        """Run one task while may-i-run watches it; report how it ended."""
        running = RunningTask(task["_id"], self._new_reporter(task["_id"]))
        try:
            await running.reporter.log(f"Worker {self.config.worker_id} ({nickname(self.config)}) "
                                       f"started task {running.task_id}; {describe_load()}")
            await running.reporter.update(task_status=TaskStatus.ACTIVE, activity="Task started")
            await self._run_watched(running, TaskRunner(task, running.reporter, self._outputs, self._command_config,
                                                        clock=self.clock))
            await self._report_outcome(running)
        finally:
            running.reporter.close()

    async def _run_watched(self, running: RunningTask, runner: TaskRunner) -> None:
        """Run the task's commands with may-i-run polling beside them, until they end or are stopped."""
        running.runner = asyncio.create_task(runner.run(), name=f"task-{running.task_id}")
        watcher = asyncio.create_task(self._watch_may_i_run(running), name=f"may-i-run-{running.task_id}")
        self._current = running
        try:
            await asyncio.wait({running.runner})
        finally:
            running.runner.cancel()  # only has an effect when we ourselves are cancelled
            watcher.cancel()
            await asyncio.gather(running.runner, watcher, return_exceptions=True)
            self._current = None

    def _stop_current_task(self, reason: str) -> None:
        """Cancel the running task (its command cleans up its subprocess); the outcome is reported silently."""
        running = self._current
        if running is None or running.runner is None or running.runner.done() or running.stop_reason:
            return
        log.info("stopping task %s: %s", running.task_id, reason)
        running.stop_reason = reason
        running.reporter.silently_aborting = True
        running.runner.cancel()

    async def _report_outcome(self, running: RunningTask) -> None:
        """Completed, failed, or (when we stopped it) returned to the manager without a status."""
        runner, reporter = running.runner, running.reporter
        assert runner is not None
        error: BaseException | None = asyncio.CancelledError() if runner.cancelled() else runner.exception()
        if running.stop_reason is not None and error is not None:
            await reporter.log(f"Worker {self.config.worker_id} ({nickname(self.config)}) stopped running "
                               f"this task: {running.stop_reason}")
            await reporter.push_pending()
            await self.queue.queue(f"/tasks/{running.task_id}/return", {})
        elif error is None:
            await reporter.log(f"Task finished; {describe_load()}")
            await reporter.update(task_status=TaskStatus.COMPLETED, activity="Task completed")
        else:
            if isinstance(error, TaskFailed):
                message = str(error)
            else:
                message = f"Uncaught exception: {type(error).__name__}: {error}"
                details = "".join(traceback.format_exception(error)).rstrip()
                log.error("task %s: %s", running.task_id, details)
                await reporter.log(details)
            await reporter.log(message)
            await reporter.update(task_status=TaskStatus.FAILED, activity=message)
        await reporter.push_pending()

    async def _watch_may_i_run(self, running: RunningTask) -> None:
        """Ask the manager every few seconds whether the task may go on (reference B.6).

        Unlike Flamenco 2 (D.2.2) a bad answer never ends the watch: only a
        well-formed ``may_keep_running: false`` stops the task.
        """
        while True:
            await self.clock.sleep(self.config.may_i_run_interval_seconds)
            try:
                response = await self.client.get(f"/may-i-run/{running.task_id}")
            except ManagerUnreachable as ex:
                log.info("may-i-run: no answer (%s); keep running", ex)
                continue
            answer = json_object(response) if response.status_code == 200 else None
            if answer is None or not isinstance(answer.get(wire.MAY_KEEP_RUNNING), bool):
                log.warning("may-i-run: unusable answer %d %r; keep running", response.status_code, response.text[:200])
                continue
            if answer[wire.MAY_KEEP_RUNNING]:
                continue
            reason = answer.get(wire.REASON) or "no reason given"
            self._stop_current_task(f"no longer allowed to run by Manager: {reason}")
            requested = answer.get(wire.STATUS_REQUESTED)
            if requested:
                self.request_status(requested)
            return
