"""The worker against a fake manager over real HTTP: fetch, run, report, stop, status changes.

Tests of time-based behaviour (may-i-run polling, asleep polling, the error
state, back-pressure, the output throttle, the retry after an unexpected error)
run the worker on a :class:`FakeClock` with its real default intervals: each
timed step happens when the test ends that sleep, never before.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from aiohttp import web

from flamenco_worker.commands import Command
from flamenco_worker.commands.base import register
from flamenco_worker.config import WorkerConfig
from flamenco_worker.output_produced import SENDER_TASK
from flamenco_worker.worker import LOOP_WAIT_TASK, FlamencoWorker, WorkerState
from tests.worker.conftest import end_sleep, remaining, run, running_worker, until, with_config
from tests.worker.fake_clock import FakeClock
from tests.worker.fake_manager import FakeManager


def echo(message: str) -> dict:
    return {"name": "echo", "settings": {"message": message}}


def sleep(seconds: float) -> dict:
    return {"name": "sleep", "settings": {"time_in_seconds": seconds}}


def test_task_runs_and_completes(manager: FakeManager, clocked_config: WorkerConfig, clock: FakeClock) -> None:
    task_id = manager.add_task(echo("hello"), sleep(2), echo("goodbye"))

    async def body() -> None:
        async with running_worker(clocked_config, clock=clock):
            assert await end_sleep(clock, "task-", "the sleep command") == 2
            await until(lambda: "completed" in manager.statuses(task_id), what="task completion")

    run(body())
    assert manager.statuses(task_id) == ["active", "completed"]
    log = manager.task_log(task_id)
    assert log.index("hello") < log.index("goodbye")
    last = manager.updates(task_id)[-1]
    assert last["task_progress_percentage"] == 100
    assert last["activity"] == "Task completed"
    assert last["metrics"]["timing"] == {"echo": 0.0, "sleep": 2.0, "total": 2.0}, "commands are timed on the clock"
    progress = [u["task_progress_percentage"] for u in manager.updates(task_id) if "task_progress_percentage" in u]
    assert progress == sorted(progress)
    assert manager.requests("/sign-off"), "clean shutdown signs off"


def test_invalid_setting_fails_task_naming_the_setting(manager: FakeManager, worker_config: WorkerConfig) -> None:
    bad = manager.add_task(echo("never runs"), {"name": "sleep", "settings": {"time_in_seconds": "soon"}})
    good = manager.add_task(echo("next task"))

    async def body() -> None:
        async with running_worker(worker_config):
            await until(lambda: "completed" in manager.statuses(good), what="the next task")

    run(body())
    assert manager.statuses(bad) == ["active", "failed"]
    activity = manager.updates(bad)[-1]["activity"]
    assert "command 1 (sleep)" in activity and "'time_in_seconds'" in activity and "must be a" in activity
    assert "never runs" not in manager.task_log(bad), "settings are validated before any command runs"


def test_unknown_command_fails_the_task_not_the_worker(manager: FakeManager, worker_config: WorkerConfig) -> None:
    bad = manager.add_task({"name": "make_coffee", "settings": {}})
    malformed = manager.add_task({"settings": {}})
    good = manager.add_task(echo("still alive"))

    async def body() -> None:
        async with running_worker(worker_config):
            await until(lambda: "completed" in manager.statuses(good), what="the next task")

    run(body())
    assert manager.statuses(bad) == ["active", "failed"]
    assert "unknown command 'make_coffee'" in manager.updates(bad)[-1]["activity"]
    assert manager.statuses(malformed) == ["active", "failed"]
    assert "'name'" in manager.updates(malformed)[-1]["activity"]


def test_failing_command_fails_task(manager: FakeManager, worker_config: WorkerConfig) -> None:
    task_id = manager.add_task({"name": "exec", "settings": {"cmd": "false"}})

    async def body() -> None:
        async with running_worker(worker_config):
            await until(lambda: "failed" in manager.statuses(task_id), what="task failure")

    run(body())
    assert "command 0 (exec) failed" in manager.updates(task_id)[-1]["activity"]


def only_worker(manager: FakeManager) -> str:
    (worker_id,) = manager.workers
    return worker_id


def returned_after_updates(manager: FakeManager, task_id: str) -> bool:
    """True when /return came after every update of the task."""
    paths = [r.path for r in manager.requests(f"/tasks/{task_id}/")]
    return bool(paths) and paths[-1].endswith("/return") and paths.count(f"/tasks/{task_id}/return") == 1


def test_may_i_run_no_stops_and_returns_task_silently(
    manager: FakeManager, clocked_config: WorkerConfig, clock: FakeClock,
) -> None:
    withdrawn = manager.add_task(echo("started"), sleep(3600))
    manager.may_i_run = lambda request: _answer({"may_keep_running": False, "reason": "reassigned to another worker"})
    next_task = manager.add_task(echo("next"))

    async def body() -> None:
        async with running_worker(clocked_config, clock=clock):
            await until(lambda: manager.statuses(withdrawn), what="the task to start")
            assert not manager.requests("/may-i-run/"), "nobody asks before the interval passed"
            assert (await end_sleep(clock, "may-i-run-", "the may-i-run watcher")
                    == clocked_config.may_i_run_interval_seconds)
            await until(lambda: returned_after_updates(manager, withdrawn), what="the task's return")
            assert (await end_sleep(clock, LOOP_WAIT_TASK, "the pause after a task")
                    == clocked_config.fetch_after_task_seconds)
            await until(lambda: "completed" in manager.statuses(next_task), what="the next task")

    run(body())
    assert len(manager.requests("/may-i-run/")) == 1
    assert manager.statuses(withdrawn) == ["active"], "no canceled/failed status for a withdrawn task"
    assert returned_after_updates(manager, withdrawn)
    assert any("no longer allowed to run by Manager: reassigned" in line for line in manager.task_log(withdrawn))


async def _answer(body: object, status: int = 200, text: str | None = None) -> web.Response:
    if text is not None:
        return web.Response(status=status, text=text, content_type="text/html")
    return web.json_response(body, status=status)


def test_may_i_run_survives_bad_replies(manager: FakeManager, clocked_config: WorkerConfig, clock: FakeClock) -> None:
    bad_replies = [
        lambda: _answer(None, 200, "<html>proxy error</html>"),
        lambda: _answer(None, 500, "Internal Server Error"),
        lambda: _answer(["not", "an", "object"]),
        lambda: _answer({"may_keep_running": "nope"}),
        lambda: _answer({"reason": "missing the answer"}),
    ]
    calls: list[int] = []

    def may_i_run(request: web.Request) -> object:
        calls.append(1)
        if len(calls) <= len(bad_replies):
            return bad_replies[len(calls) - 1]()
        return _answer({"may_keep_running": False, "reason": "task canceled"})

    manager.may_i_run = may_i_run
    task_id = manager.add_task(sleep(3600))
    interval = clocked_config.may_i_run_interval_seconds

    async def body() -> None:
        async with running_worker(clocked_config, clock=clock):
            await until(lambda: manager.statuses(task_id), what="the task to start")
            for asked in range(1, len(bad_replies) + 2):
                assert await end_sleep(clock, "may-i-run-", "the may-i-run watcher") == interval
                await until(lambda: len(calls) >= asked, what=f"may-i-run call {asked}")  # noqa: B023
                assert len(calls) == asked, "one call per interval"
            await until(lambda: returned_after_updates(manager, task_id), what="the task's return")

    run(body())
    assert len(calls) == len(bad_replies) + 1, "the watcher kept asking after bad replies"
    assert clock.elapsed == len(calls) * interval
    assert manager.statuses(task_id) == ["active"]


def test_may_i_run_status_request_sends_worker_to_sleep(
    manager: FakeManager, clocked_config: WorkerConfig, clock: FakeClock,
) -> None:
    task_id = manager.add_task(sleep(3600))
    later = manager.add_task(echo("after waking"))
    poll = clocked_config.asleep_poll_seconds

    async def body() -> None:
        async with running_worker(clocked_config, clock=clock) as worker:
            await until(lambda: manager.statuses(task_id), what="the task to start")
            manager.status_requested[only_worker(manager)] = "asleep"
            await end_sleep(clock, "may-i-run-", "the may-i-run watcher")
            await until(lambda: manager.requests("/ack-status-change/asleep"), what="ack asleep")
            assert worker.state is WorkerState.ASLEEP
            await until(lambda: returned_after_updates(manager, task_id), what="the task's return")
            assert await end_sleep(clock, LOOP_WAIT_TASK, "the asleep poll") == poll
            await until(lambda: manager.requests("/status-change"), what="a status poll")
            assert not manager.statuses(later), "no task is fetched while asleep"
            manager.status_requested[only_worker(manager)] = "awake"
            assert await end_sleep(clock, LOOP_WAIT_TASK, "the asleep poll") == poll
            await until(lambda: "completed" in manager.statuses(later), what="the task after waking")

    run(body())
    assert manager.requests("/ack-status-change/awake")
    assert len(manager.requests("/status-change")) == 2, "asleep, the worker polls for status changes once per interval"


def test_423_unknown_status_means_asleep(manager: FakeManager, worker_config: WorkerConfig) -> None:
    async def body() -> None:
        async with running_worker(worker_config) as worker:
            await until(lambda: manager.workers, what="registration")
            manager.status_requested[only_worker(manager)] = "dancing"
            await until(lambda: worker.state is WorkerState.ASLEEP, what="sleep")

    run(body())
    assert manager.requests("/ack-status-change/asleep")


def test_423_shutdown_stops_the_worker_with_sign_off(manager: FakeManager, worker_config: WorkerConfig) -> None:
    async def body() -> None:
        async with running_worker(worker_config) as worker:
            await until(lambda: manager.workers, what="registration")
            manager.status_requested[only_worker(manager)] = "shutdown"
            await until(lambda: worker.state is WorkerState.SHUTTING_DOWN, what="shutdown")
            await until(lambda: manager.requests("/sign-off"), what="sign-off")

    run(body())
    assert not manager.requests("/ack-status-change/"), "shutdown is not acknowledged; sign-off stands for it"


def test_error_status_then_awake_again(manager: FakeManager, clocked_config: WorkerConfig, clock: FakeClock) -> None:
    error_wait = clocked_config.error_state_seconds

    async def body() -> None:
        async with running_worker(clocked_config, clock=clock) as worker:
            await until(lambda: manager.fetches(), what="the first fetch")  # answered 204: no task
            manager.status_requested[only_worker(manager)] = "error"
            assert (await end_sleep(clock, LOOP_WAIT_TASK, "the wait after no task")
                    == clocked_config.fetch_retry_no_task_seconds)
            await until(lambda: manager.requests("/ack-status-change/error"), what="ack error")
            assert worker.state is WorkerState.ERROR
            await until(lambda: remaining(clock, LOOP_WAIT_TASK) == [error_wait], what="the error wait")
            clock.advance(error_wait - 1)
            await until(lambda: remaining(clock, LOOP_WAIT_TASK) == [1.0], what="the rest of the error wait")
            assert worker.state is WorkerState.ERROR and not manager.requests("/ack-status-change/awake")
            clock.advance(1)
            await until(lambda: manager.requests("/ack-status-change/awake"), what="waking after the error wait")
            assert worker.state is WorkerState.AWAKE

    run(body())


def test_sleep_request_from_signal_returns_running_task(manager: FakeManager, worker_config: WorkerConfig) -> None:
    task_id = manager.add_task(sleep(20))

    async def body() -> None:
        async with running_worker(worker_config) as worker:
            await until(lambda: manager.statuses(task_id), what="the task to start")
            worker.request_status("asleep")
            await until(lambda: returned_after_updates(manager, task_id), what="the task's return")
            assert worker.state is WorkerState.ASLEEP
            worker.request_status("awake")
            await until(lambda: manager.requests("/ack-status-change/awake"), what="ack awake")

    run(body())
    assert manager.statuses(task_id) == ["active"]


def test_shutdown_during_task_returns_it_before_sign_off(manager: FakeManager, worker_config: WorkerConfig) -> None:
    task_id = manager.add_task(sleep(20))

    async def body() -> None:
        async with running_worker(worker_config):
            await until(lambda: manager.statuses(task_id), what="the task to start")

    run(body())
    paths = [r.path for r in manager.requests()]
    assert paths.index(f"/tasks/{task_id}/return") < paths.index("/sign-off")
    assert manager.statuses(task_id) == ["active"]
    assert any("worker is shutting down" in line for line in manager.task_log(task_id))


def test_single_mode_runs_one_task(manager: FakeManager, worker_config: WorkerConfig) -> None:
    first = manager.add_task(echo("one"))
    second = manager.add_task(echo("two"))

    async def body() -> None:
        async with running_worker(worker_config, single=True) as worker:
            await until(lambda: worker.state is WorkerState.SHUTTING_DOWN, what="shutdown after one task")

    run(body())
    assert manager.statuses(first) == ["active", "completed"]
    assert not manager.statuses(second)
    assert manager.requests("/sign-off")


def test_test_mode_acknowledges_testing(manager: FakeManager, worker_config: WorkerConfig) -> None:
    async def body() -> None:
        async with running_worker(worker_config, test_mode=True) as worker:
            await until(lambda: manager.requests("/ack-status-change/testing"), what="ack testing")
            assert worker.state is WorkerState.TESTING

    run(body())


async def _queue_empty(worker: FlamencoWorker) -> bool:
    return (await worker.queue.size()).updates == 0


def test_no_fetch_while_queue_is_backed_up(
    manager: FakeManager, clocked_config: WorkerConfig, clock: FakeClock,
) -> None:
    stuck = manager.add_task(echo("first"))
    config = with_config(clocked_config, queue_backpressure_updates=1)
    manager.update_status = 503

    def refused() -> int:
        return len(manager.updates(stuck, accepted=False))

    def both_waiting() -> bool:
        return bool(clock.pending(LOOP_WAIT_TASK) and clock.pending("update-queue"))

    async def body() -> None:
        async with running_worker(config, clock=clock) as worker:
            await until(lambda: refused() >= 1, what="the first refused update")
            fetches = manager.fetches()
            for _ in range(3):  # every round: at least one retry of the queue, one re-check of the loop
                await until(both_waiting, what="the fetch loop and the queue to wait")
                attempts = refused()
                clock.advance(config.queue_backpressure_recheck_seconds)
                await until(lambda: refused() > attempts, what="a retry of the stuck update")  # noqa: B023
            await until(both_waiting, what="the fetch loop and the queue to wait")
            assert manager.fetches() == fetches, "no task fetched while updates are stuck"
            manager.update_status = None
            await end_sleep(clock, "update-queue", "the queue's back-off")
            await until(lambda: _queue_empty(worker), what="the queue to drain")
            await end_sleep(clock, LOOP_WAIT_TASK, "the back-pressure re-check")
            await until(lambda: manager.fetches() > fetches, what="fetching again")

    run(body())
    assert manager.statuses(stuck)[-1] == "completed"


def test_produced_outputs_all_reach_the_manager(
    tmp_path: Path, manager: FakeManager, clocked_config: WorkerConfig, clock: FakeClock,
) -> None:
    source = tmp_path / "frame.png"
    source.write_bytes(b"not really a PNG")
    copies = [str(tmp_path / f"copy-{index}.png") for index in range(3)]
    task_id = manager.add_task(*({"name": "copy_file", "settings": {"src": str(source), "dest": dest}} for dest in copies))

    def reported() -> list[str]:
        return [path for r in manager.requests("/output-produced") for path in r.body["paths"]]

    async def body() -> None:
        async with running_worker(clocked_config, clock=clock):
            await until(lambda: "completed" in manager.statuses(task_id), what="the task")
            await until(lambda: clock.pending(SENDER_TASK), what="the throttled paths to wait")
            assert len(manager.requests("/output-produced")) == 1, "one call, then the throttle"
            assert (await end_sleep(clock, SENDER_TASK, "the output-produced throttle")
                    == clocked_config.output_produced_interval_seconds)
            await until(lambda: len(reported()) == len(copies), what="every produced path")

    run(body())
    assert sorted(reported()) == sorted(copies), "paths produced within the throttle interval are not dropped"
    assert len(manager.requests("/output-produced")) == 2, "the paths of one interval go out together"


def test_unexpected_error_does_not_end_the_fetch_loop(
    manager: FakeManager, clocked_config: WorkerConfig, clock: FakeClock, caplog: pytest.LogCaptureFixture,
) -> None:
    async def body() -> None:
        async with running_worker(clocked_config, clock=clock):
            await until(lambda: manager.fetches(), what="the first fetch")
            with sqlite3.connect(clocked_config.task_update_queue_db) as conn:
                conn.execute("ALTER TABLE updates RENAME TO broken")
            await end_sleep(clock, LOOP_WAIT_TASK, "the wait after no task")
            await until(lambda: "unexpected error" in caplog.text, what="the error to be logged")
            with sqlite3.connect(clocked_config.task_update_queue_db) as conn:
                conn.execute("ALTER TABLE broken RENAME TO updates")
            task_id = manager.add_task(echo("recovered"))
            assert (await end_sleep(clock, LOOP_WAIT_TASK, "the wait after the error")
                    == clocked_config.uncaught_retry_seconds)
            await until(lambda: "completed" in manager.statuses(task_id), what="a task after the error")

    run(body())


@register
class ExplodingCommand(Command):
    """Test-only: a command with a bug, raising something that is not a CommandError."""

    name = "test_exploding"

    async def execute(self) -> None:
        raise ZeroDivisionError("the command has a bug")


def test_bug_in_command_fails_task_not_worker(manager: FakeManager, worker_config: WorkerConfig) -> None:
    buggy = manager.add_task({"name": "test_exploding", "settings": {}})
    good = manager.add_task(echo("still working"))

    async def body() -> None:
        async with running_worker(worker_config):
            await until(lambda: "completed" in manager.statuses(good), what="the next task")

    run(body())
    assert manager.statuses(buggy) == ["active", "failed"]
    activity = manager.updates(buggy)[-1]["activity"]
    assert "command 0 (test_exploding) failed" in activity and "the command has a bug" in activity


def test_forgotten_worker_registers_again_and_goes_on(manager: FakeManager, worker_config: WorkerConfig) -> None:
    async def body() -> None:
        async with running_worker(worker_config) as worker:
            await until(lambda: manager.fetches(), what="the first fetch")
            first_id = worker.config.worker_id
            manager.workers.clear()  # e.g. the manager's database was reset
            task_id = manager.add_task(echo("after re-registration"))
            await until(lambda: "completed" in manager.statuses(task_id), what="the task")
            assert worker.config.worker_id != first_id
            assert set(manager.workers) == {worker.config.worker_id}

    run(body())
    assert len(manager.requests("/register-worker")) == 2
