"""Re-checking a task with the Server just before a worker gets it (reference A.4.2, "RefetchTask").

The cached copy may be stale: the Server may have cancelled or changed the
task since the last depsgraph download. A conditional GET on the task's
``_etag`` says whether it did, and the answer is read as Flamenco 2 reads it:

- 304: unchanged, assign it;
- no answer (network error, time-out), 3xx or 5xx: unchanged too, so that
  work keeps flowing while the Server is down;
- 204 or 4xx: the task is gone for this manager, the cached copy becomes
  ``canceled``;
- 200: the Server's copy is ``$set`` onto the cached one (``canceled`` if it
  cannot be decoded; cancelled as the Server asked if it is
  ``cancel-requested``).

Only a task the scheduler has claimed is re-checked, so one process at a time
does it. A changed task loses its claim, so it can be picked again after the
change (for instance a new ``_etag`` with a status still schedulable).
"""
from __future__ import annotations

import logging
import threading
import time

from flamenco_manager import db as dbmod
from flamenco_manager import statuses, tasks
from flamenco_manager.cancellation import handle_cancel_requests
from flamenco_manager.config import Config
from flamenco_manager.context import ManagerContext
from flamenco_manager.defaults import TASK_RECHECK_PAUSE_AFTER_FAILURE, TASK_RECHECK_TIMEOUT
from flamenco_manager.update_queue import MANAGER_LOCAL_JOB_TYPE, apply_locally
from flamenco_manager.upstream import TaskRefetch, Upstream, UpstreamError

log = logging.getLogger(__name__)

# Eve's envelope fields in an item GET: links, not task data.
ENVELOPE_FIELDS = ("_links",)


class _RecheckClient:
    """The Server connection of one process for re-checks: a session per thread, a shared pause."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.local = threading.local()
        self.paused_until = 0.0

    def refetch(self, task: dict) -> TaskRefetch | None:
        """The Server's answer; None when it could not be asked (down, or recently down)."""
        if time.monotonic() < self.paused_until:
            return None
        if not hasattr(self.local, "upstream"):
            self.local.upstream = Upstream(self.config)
        try:
            return self.local.upstream.refetch_task(str(task["_id"]), task.get("_etag"), TASK_RECHECK_TIMEOUT)
        except UpstreamError as ex:
            self.paused_until = time.monotonic() + TASK_RECHECK_PAUSE_AFTER_FAILURE
            log.warning("re-check of task %s: Server unreachable, assigning it as cached: %s", task["_id"], ex)
            return None


_clients: dict[tuple, _RecheckClient] = {}
_clients_lock = threading.Lock()


def _client(config: Config) -> _RecheckClient:
    """One client per Server identity, so a changed config gets a fresh one."""
    key = (config.flamenco, config.manager_id, config.manager_secret)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _RecheckClient(config)
        return client


def task_unchanged(ctx: ManagerContext, task: dict) -> bool:
    """Whether the claimed ``task`` may go to a worker as cached.

    A task the Server changed is updated here (its copy, or ``canceled``) and
    its claim released; the caller then picks again.
    """
    if not ctx.config.recheck_task_before_assigning or task.get("job_type") == MANAGER_LOCAL_JOB_TYPE:
        return True
    answer = _client(ctx.config).refetch(task)
    if answer is None or _counts_as_unchanged(answer.status_code):
        return True
    server_copy = _decoded(answer, ctx)
    if server_copy is None:
        _cancel_locally(ctx, task, f"the Server answered HTTP {answer.status_code} when re-checked")
    else:
        _take_server_copy(ctx, task, server_copy)
    ctx.db[dbmod.CLAIMS].delete_one({"_id": task["_id"]})
    return False


def _counts_as_unchanged(status_code: int) -> bool:
    """304, and the answers that say nothing about the task (3xx, 5xx)."""
    return 300 <= status_code < 400 or status_code >= 500


def _decoded(answer: TaskRefetch, ctx: ManagerContext) -> dict | None:
    """The Server's copy as the cache stores it; None for 204, 4xx or a body that is not a task."""
    if answer.status_code == 204 or answer.status_code >= 400 or answer.document is None:
        return None
    try:
        return tasks.from_wire({k: v for k, v in answer.document.items() if k not in ENVELOPE_FIELDS}, ctx.now())
    except (TypeError, ValueError, AttributeError):
        return None


def _cancel_locally(ctx: ManagerContext, task: dict, reason: str) -> None:
    """Cancel the cached task without telling the Server (it no longer gives it to us)."""
    log.info("task %s canceled: %s", task["_id"], reason)
    apply_locally(ctx, task, {"task_status": statuses.CANCELED, "activity": f"Canceled by Manager: {reason}"}, {})


def _take_server_copy(ctx: ManagerContext, task: dict, server_copy: dict) -> None:
    """``$set`` the Server's copy onto the cached task; local news not yet pushed stays.

    A ``cancel-requested`` copy is a cancel request for a task nobody runs
    here: it is cancelled at once and the Server hears so (as for the
    ``cancel_task_ids`` of a push), instead of waiting for a task timeout.
    """
    if server_copy.get("status") == statuses.CANCEL_REQUESTED:
        handle_cancel_requests(ctx, [str(task["_id"])])
        return
    fields = tasks.server_fields(server_copy, updates_pending=tasks.has_pending_updates(ctx, task["_id"]))
    new_status = fields.pop("status", None) or task.get("status")
    log.info("task %s changed on the Server (now %s)", task["_id"], new_status)
    apply_locally(ctx, task, {"task_status": new_status}, fields)
