"""The sync daemon: everything the Manager does on its own, in one loop.

Talks to the Server (depsgraph downloads, update pushes, cancellations,
notifications, log uploads) and does the housekeeping (timeouts, cleanup,
sleep schedules, blocklist expiry). It runs in a thread of the dispatching
process (``flamenco-manager run``), so its blocking HTTP calls never hold up
a worker; it changes the state through the engine (``on_engine``). Each step
is independent: one that fails is logged and retried, the others go on.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Callable, Iterable

from flamenco_manager import blocklist, cleanup, last_rendered, sleep_schedule, sync_requests, task_logs, tasks
from flamenco_manager import server_settings, timeouts, update_queue, worker_actions
from flamenco_manager.cancellation import handle_cancel_requests
from flamenco_manager.context import ManagerContext
from flamenco_manager.engine import on_engine
from flamenco_manager.store import chunks
from flamenco_manager.notifications import build_notification, report_digest
from flamenco_manager.upstream import Upstream, UpstreamError
from flamenco_protocol import wire

log = logging.getLogger(__name__)


# Downloaded tasks and acknowledged updates reach the state (and the buffer) in
# chunks of this many, each its own group commit, so that no flush that workers
# wait for carries a whole depsgraph or push (the local store writes ~1,000
# documents/s: store.py).
CHANGE_CHUNK = 200
# Depsgraph answers one download may ask for while the Server says more queued
# tasks wait (it claims them 1,000 per answer): enough for 100,000 tasks, and a
# bound should a Server keep saying "more".
MAX_DOWNLOAD_PAGES = 100


def _seconds(value: float) -> dt.timedelta:
    return dt.timedelta(seconds=value)


class Periodic:
    """A step that is due every ``interval``, the first time after ``first``."""

    def __init__(self, start: dt.datetime, first: float, interval: float) -> None:
        self.next = start + _seconds(first)
        self.interval = interval

    def due(self, now: dt.datetime) -> bool:
        if now < self.next:
            return False
        self.next = now + _seconds(self.interval)
        return True


class SyncDaemon:
    def __init__(self, ctx: ManagerContext, upstream: Upstream | None = None) -> None:
        self.ctx = ctx
        self.upstream = upstream or Upstream(ctx.config)
        cfg, now = ctx.config, ctx.now()
        self.last_download: dt.datetime | None = None
        self.last_push_ok = now - _seconds(cfg.cancel_task_fetch_max_interval)
        self.push_backoff = 0.0
        self.next_push_allowed = now
        self.startup_sent = False
        self.next_notification_try = now
        # When the last notification went out, and what its worker report said.
        self.last_notification_at = now
        self.last_report_digest = ""
        self.housekeeping: list[tuple[Periodic, Callable[[ManagerContext], int]]] = [
            (Periodic(now, cfg.timeout_check_grace, cfg.timeout_check_interval), timeouts.check_worker_timeouts),
            (Periodic(now, cfg.timeout_check_grace, cfg.timeout_check_interval), timeouts.check_task_timeouts),
            (Periodic(now, cfg.task_cleanup_interval, cfg.task_cleanup_interval), cleanup.remove_old_tasks),
            (Periodic(now, cfg.worker_cleanup_interval, cfg.worker_cleanup_interval), cleanup.remove_old_workers),
            (Periodic(now, 0, cfg.sleep_schedule_interval), sleep_schedule.apply_due),
            (Periodic(now, 0, cfg.task_cleanup_interval), blocklist.expire),
        ]

    # -- the loop -----------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Run until ``stop`` is set."""
        log.info("sync daemon started; server %s", self.upstream.base)
        while not stop.is_set():
            self.run_once()
            stop.wait(self.ctx.config.sync_tick_interval)

    def run_once(self) -> None:
        """Do every step that is due now."""
        for step in (self.send_notifications, self.maybe_download, self.maybe_push, self.upload_last_rendered,
                     self.housekeep):
            try:
                step()
            except UpstreamError as ex:
                log.warning("sync step %s: %s", step.__name__, ex)
            except Exception:  # noqa: BLE001 - one failing step must not stop the daemon
                log.exception("sync step %s failed", step.__name__)

    # -- notifications ------------------------------------------------------

    def send_notifications(self) -> None:
        """Startup notification until it succeeds; then an update notification when one is due."""
        now = self.ctx.now()
        if now < self.next_notification_try:
            return
        if self.startup_sent and now - self.last_notification_at < _seconds(self.ctx.config.worker_report_min_interval):
            return  # checked before building: the report lists every worker, in the engine's loop
        document = build_notification(self.ctx)
        digest = report_digest(document)
        kind = "update" if self.startup_sent else "startup"
        if self.startup_sent and not self.update_due(now, document, digest):
            return
        try:
            if kind == "update":
                sync_requests.clear_update_notification(self.ctx)
            self.upstream.notify(kind, document)
        except UpstreamError as ex:
            if kind == "update":
                sync_requests.request_update_notification(self.ctx)
            log.warning("%s notification failed, retrying: %s", kind, ex)
            self.next_notification_try = now + _seconds(self.ctx.config.startup_notification_retry)
            return
        self.startup_sent = True
        self.last_notification_at = now
        self.last_report_digest = digest
        worker_actions.acknowledged(self.ctx, document.get("worker_actions_done") or [])

    def update_due(self, now: dt.datetime, document: dict, digest: str) -> bool:
        """Asked for (task types changed), actions to acknowledge or workers changed (``digest`` of
        the report differs), at most once per ``worker_report_min_interval`` (the caller checks it
        first); and a refresh of the workers' last contact every max interval."""
        if now - self.last_notification_at >= _seconds(self.ctx.config.worker_report_max_interval) \
                and document["workers"]:
            return True
        return (sync_requests.update_notification_pending(self.ctx) or bool(document.get("worker_actions_done"))
                or digest != self.last_report_digest)

    # -- downloads ----------------------------------------------------------

    def maybe_download(self) -> None:
        now = self.ctx.now()
        periodic = self.last_download is None or now - self.last_download >= _seconds(
            self.ctx.config.download_task_sleep)
        if periodic or sync_requests.kicked_since(self.ctx, self.last_download):
            self.download()

    def download(self) -> int:
        """Fetch the depsgraph (incremental after the first) into the cache.

        The Server claims queued tasks a page at a time and says when more
        wait: ask again at once, up to MAX_DOWNLOAD_PAGES answers per download.
        """
        # Set before asking, so a Server that is down is asked again only at
        # the next period or kick, not on every tick.
        self.last_download = self.ctx.now()
        stored = 0
        for _ in range(MAX_DOWNLOAD_PAGES):
            graph = self.upstream.depsgraph(sync_requests.depsgraph_last_modified(self.ctx))
            if graph.tasks is None:
                break
            for chunk in chunks(graph.tasks, CHANGE_CHUNK):
                stored += tasks.store_downloaded(self.ctx, chunk)
                self.prepare_logs(chunk)
            if graph.last_updated:
                sync_requests.set_depsgraph_last_modified(self.ctx, graph.last_updated)
            if not graph.more:
                break
        log.info("downloaded %d tasks", stored)
        return stored

    def prepare_logs(self, docs: Iterable[dict]) -> None:
        """Create the log files of downloaded tasks here, in the sync thread (``task_logs.prepare``)."""
        per_job: dict[str, list[str]] = {}
        for doc in docs:
            per_job.setdefault(str(doc.get("job") or ""), []).append(str(doc["_id"]))
        for job_id, task_ids in per_job.items():
            try:
                task_logs.prepare(self.ctx.config.task_logs_path, job_id or None, task_ids)
            except OSError as ex:  # the first log line will create it, on the worker's time
                log.warning("cannot create the log files of job %s's tasks: %s", job_id, ex)

    # -- pushes -------------------------------------------------------------

    def push_due(self, now: dt.datetime) -> bool:
        cfg = self.ctx.config
        if now < self.next_push_allowed:
            return False
        since_push = now - self.last_push_ok
        if since_push >= _seconds(cfg.cancel_task_fetch_max_interval):
            return True
        queued = update_queue.queue_size(self.ctx)
        return queued >= cfg.task_update_push_max_count or (
            queued > 0 and since_push >= _seconds(cfg.task_update_push_max_interval))

    def maybe_push(self) -> None:
        if self.push_due(self.ctx.now()):
            self.push_all()

    def push_all(self) -> int:
        """Push batches until the queue is empty or the Server fails; return updates acknowledged."""
        acknowledged = 0
        while True:
            batch_size, handled = self.push_batch()
            acknowledged += handled
            if batch_size < self.ctx.config.task_update_push_max_count or handled == 0:
                return acknowledged

    def push_batch(self) -> tuple[int, int]:
        """One push (an empty one polls for cancellations); returns (sent, acknowledged)."""
        cfg = self.ctx.config
        batch = update_queue.pending_batch(self.ctx, cfg.task_update_push_max_count)
        try:
            reply = self.upstream.push_updates([update_queue.to_wire(doc) for doc in batch])
        except UpstreamError as ex:
            self.push_backoff = min(max(self.push_backoff * 2, cfg.sync_tick_interval), cfg.push_backoff_max)
            self.next_push_allowed = self.ctx.now() + _seconds(self.push_backoff)
            log.warning("pushing %d updates failed, retrying in %.1fs: %s", len(batch), self.push_backoff, ex)
            return len(batch), 0
        self.push_backoff = 0.0
        self.last_push_ok = self.ctx.now()
        handled = {oid for oid in map(tasks.parse_id, reply.get(wire.HANDLED_UPDATE_IDS) or []) if oid}
        for chunk in chunks(list(handled), CHANGE_CHUNK):
            update_queue.acknowledge(self.ctx, chunk)
        dropped = update_queue.set_aside_unacknowledged(self.ctx, batch, handled, cfg.push_max_unacknowledged)
        if dropped:
            log.warning("set aside %d updates the Server never acknowledged", dropped)
        handle_cancel_requests(self.ctx, reply.get(wire.CANCEL_TASK_IDS) or [])
        self.apply_worker_actions(reply.get("worker_actions"))
        self.apply_manager_settings(reply.get("manager_settings"))
        self.upload_logs(reply.get(wire.UPLOAD_TASK_FILE_QUEUE) or [])
        return len(batch), len(handled & {d["_id"] for d in batch})

    def apply_worker_actions(self, actions: object) -> None:
        """Apply what users asked of workers on the Server; the next notification acknowledges it."""
        if actions is None:
            return
        if not isinstance(actions, list):
            log.warning("task-update-batch: worker_actions is not a list; ignored")
            return
        applied = worker_actions.apply_from_server(self.ctx, actions)
        if applied:
            log.info("applied %d worker actions from the Server", applied)

    def apply_manager_settings(self, change: object) -> None:
        """Take the settings an admin changed on the Server; the next notification reports the version."""
        if change is not None and server_settings.apply_from_server(self.ctx, change):
            sync_requests.request_update_notification(self.ctx)

    def upload_logs(self, requests: list[dict]) -> None:
        """Send the gzipped logs the Server asked for (a stub when there is none)."""
        for item in requests:
            task_id = tasks.parse_id(item.get("task"))
            if task_id is None:
                continue
            data = task_logs.gzipped(self.ctx.config.task_logs_path, str(item.get("job") or ""), str(task_id))
            try:
                self.upstream.attach_task_log(str(task_id), data)
            except UpstreamError as ex:
                log.warning("uploading the log of task %s failed (the Server will ask again): %s", task_id, ex)

    def upload_last_rendered(self) -> None:
        """Each job's newest preview image to the Server (flamenco_manager.last_rendered)."""
        last_rendered.upload_pending(self.ctx.last_rendered, self.upstream)

    # -- housekeeping -------------------------------------------------------

    def housekeep(self) -> None:
        now = self.ctx.now()
        for periodic, step in self.housekeeping:
            if periodic.due(now):
                try:
                    step(self.ctx)
                except Exception:  # noqa: BLE001 - keep the other steps going
                    log.exception("housekeeping step %s failed", step.__name__)


@on_engine
def clean_slate(ctx: ManagerContext) -> int:
    """Forget every cached task and the depsgraph timestamp, so the next download is complete."""
    removed = len(ctx.state.tasks)
    for task in list(ctx.state.tasks.values()):
        tasks.forget(ctx, task)
    sync_requests.set_depsgraph_last_modified(ctx, None)
    return removed
