"""The startup/update notification document sent to the Server (reference A.4.6).

Beyond Flamenco 2's fields it carries the worker report (issue 14):
``workers``, every worker with its status, task, last contact, platform,
task types, blocklist, tags and resources, stamped ``workers_reported_at`` (this Manager's
clock), and ``worker_actions_done``, the Server's worker actions applied
since the last notification, and ``manager_settings_version``, the version
of the settings changed on the Server that this Manager runs
(``server_settings``). A Flamenco 2 Server ignores them.
"""
from __future__ import annotations

import collections
import hashlib
import json
from typing import Any

from flamenco_manager import server_settings, worker_actions, workers
from flamenco_manager.context import ManagerContext
from flamenco_manager.engine import on_engine

# Version of the variables format in the notification.
SETTINGS_VERSION = 2
# Worker fields reported to the Server (``_id`` and ``blocklist`` besides).
REPORT_FIELDS = ("nickname", "status", "status_requested", "lazy_status_request", "current_task",
                 "current_task_status", "current_job", "last_activity", "platform", "supported_task_types",
                 "software", "address")
# Fields whose change alone does not make the report worth sending early.
VOLATILE_FIELDS = ("last_activity",)
# The Server refuses longer texts and lists (flamenco/workers/report.py); a
# worker's own long nickname must not make the whole report bounce.
MAX_TEXT = {"nickname": 1024, "software": 1024, "address": 1024}
MAX_SHORT_TEXT = 128
MAX_TASK_TYPES = 100
MAX_BLOCKLIST = 1000


def _clipped(key: str, value: Any) -> Any:
    if isinstance(value, str):
        return value[:MAX_TEXT.get(key, MAX_SHORT_TEXT)]
    if key == "supported_task_types" and isinstance(value, list):
        return [str(t)[:MAX_SHORT_TEXT] for t in value[:MAX_TASK_TYPES]]
    return value


def _capabilities(worker: dict) -> dict[str, Any]:
    """Issue 15: the tags the scheduler matches (``tags``), the worker's own (``own_tags``), whether an
    admin's replace them, and the detected ``resources`` (null: unknown), so the Server can show them
    and tell which jobs no worker can run."""
    return {"tags": workers.effective_tags(worker), "own_tags": list(worker.get("tags") or ()),
            "tags_set_by_admin": worker.get("admin_tags") is not None, "resources": worker.get("resources")}


def _reported_worker(worker: dict, blocked: list[dict]) -> dict:
    wire = workers.to_wire(worker)
    out = {"_id": wire["_id"], **{k: _clipped(k, wire[k]) for k in REPORT_FIELDS if k in wire}}
    out["blocklist"] = blocked[:MAX_BLOCKLIST]
    out.update(_capabilities(worker))
    out["sleep_schedule"] = _reported_schedule(worker)
    return out


def _reported_schedule(worker: dict) -> dict | None:
    """The worker's sleep schedule as set (not its ``next_check``, which would change the report often)."""
    schedule = worker.get("sleep_schedule")
    if not schedule:
        return None
    return {k: schedule.get(k) for k in ("schedule_active", "days_of_week", "time_start", "time_end")}


def worker_report(ctx: ManagerContext) -> list[dict]:
    """Every worker as the Server's registry takes it, in a stable order."""
    blocked: dict[Any, list[dict]] = collections.defaultdict(list)
    for worker_id, job_id, task_type in sorted(ctx.state.blocklist, key=str):
        blocked[worker_id].append({"job": str(job_id), "task_type": task_type[:MAX_SHORT_TEXT]})
    return [_reported_worker(w, blocked[w["_id"]]) for w in sorted(ctx.state.workers.values(), key=lambda w: w["_id"])]


def report_digest(document: dict) -> str:
    """What the report says, without the fields that change on every worker call."""
    steady = [{k: v for k, v in w.items() if k not in VOLATILE_FIELDS} for w in document.get("workers") or ()]
    return hashlib.sha256(json.dumps(steady, sort_keys=True, default=str).encode()).hexdigest()


@on_engine
def build_notification(ctx: ManagerContext) -> dict:
    """Own URL, all variables, worker count and task types, the worker report and applied actions."""
    task_types = {t for w in ctx.state.workers.values() for t in w.get("supported_task_types") or () if t}
    document: dict[str, Any] = {
        "_meta": {"version": SETTINGS_VERSION},
        "manager_url": ctx.config.own_url,
        "variables": server_settings.variables_in_use(ctx),
        "nr_of_workers": len(ctx.state.workers),
        "worker_task_types": sorted(task_types),
        "workers": worker_report(ctx),
        "workers_reported_at": ctx.now().isoformat(),
    }
    settings_version = server_settings.applied_version(ctx)
    if settings_version:
        document["manager_settings_version"] = settings_version
    done = worker_actions.unacknowledged(ctx)
    if done:
        document["worker_actions_done"] = done
    return document
