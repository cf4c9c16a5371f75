"""The job page's Blocklist section: the workers a Manager keeps away from this job, per task type.

The blocklist lives on the Manager (``flamenco_manager.blocklist``: a worker
that failed too many tasks of one type of a job gets no more of them). The
server learns it from the worker report Managers send with their
notifications (issue 14, :mod:`flamenco.workers`), each worker with its
blocklist entries, so this section shows the Manager's last report. A
Flamenco 2 Manager reports no workers; the section says so instead of
claiming an empty blocklist.

Owners of the Manager may ask it to drop an entry: the "Remove" button
queues the ``remove-from-blocklist`` worker action through the worker
registry's API, which the Manager applies on its next sync. Entries with
such a request pending say so.

The section is fetched by ``modules/jobblocklist.js`` when the page opens and
every 15 s after: a Manager reports its workers every few seconds to half a
minute, and no live event announces a report.
"""
from __future__ import annotations

import dataclasses
import datetime
from collections import defaultdict

import flask
from bson import ObjectId

from flamenco import clock
from flamenco.managers import user_is_owner
from flamenco.web import access
from flamenco.web.jobs_views import load_job
from flamenco.workers import actions, defaults as worker_defaults, registry
from flamenco.store import current_db
from flamenco.store.collections import MANAGERS

bp = flask.Blueprint("job_blocklist", __name__, url_prefix="/p/<project_url>/jobs")

MANAGER_PROJECTION = {"name": 1, "owner_users": 1, worker_defaults.PENDING_FIELD: 1}


@dataclasses.dataclass(frozen=True)
class BlockedWorker:
    """One worker kept from one task type of the job."""

    worker_id: str
    nickname: str
    status: str
    task_type: str
    removal_pending: bool


def _removal_requested(pending: list[dict], job_id: ObjectId) -> set[tuple[str, str | None]]:
    """``(worker, task type or None for all)`` whose removal from the job's blocklist awaits the Manager."""
    return {(a["worker"], a.get("task_type")) for a in pending
            if a.get("action") == worker_defaults.REMOVE_FROM_BLOCKLIST and a.get("job") == job_id}


def blocked_by_task_type(workers: list[dict], pending: list[dict], job_id: ObjectId,
                         now: datetime.datetime) -> dict[str, list[BlockedWorker]]:
    """The reported workers blocklisted for ``job_id``, grouped and sorted by task type, then nickname."""
    requested = _removal_requested(pending, job_id)
    grouped: dict[str, list[BlockedWorker]] = defaultdict(list)
    for worker in workers:
        for entry in worker.get("blocklist") or ():
            if entry.get("job") != job_id:
                continue
            task_type = entry.get("task_type", "")
            pending_removal = bool(requested & {(worker["worker_id"], task_type), (worker["worker_id"], None)})
            grouped[task_type].append(BlockedWorker(
                worker_id=worker["worker_id"], nickname=worker.get("nickname") or worker["worker_id"],
                status=registry.displayed_status(worker, now), task_type=task_type,
                removal_pending=pending_removal))
    return {t: sorted(grouped[t], key=lambda w: (w.nickname.lower(), w.worker_id)) for t in sorted(grouped)}


@bp.route("/<job_id>/blocklist")
@access.login_required
def job_blocklist(project_url: str, job_id: str) -> flask.typing.ResponseReturnValue:
    """The Blocklist section's content (HTML), as of the Manager's last worker report."""
    acc = access.project_access(project_url)
    job = load_job(acc, job_id)
    manager = current_db()[MANAGERS].find_one({"_id": job.get("manager")}, MANAGER_PROJECTION) \
        if job.get("manager") else None
    workers = registry.workers_of(current_db(), [manager["_id"]]) if manager else []
    now = clock.utcnow()
    pending = actions.pending(manager, now) if manager else []
    return flask.render_template(
        "_job_blocklist_rows.html", project=acc.project, job=job, manager=manager, reported=bool(workers),
        blocked=blocked_by_task_type(workers, pending, job["_id"], now),
        may_remove=manager is not None and user_is_owner(acc.user, manager),
        actions_url=flask.url_for("workers.workers_api.queue_action", manager_id=str(manager["_id"]),
                                  worker_id="WORKER") if manager else "")
