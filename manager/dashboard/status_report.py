"""The dashboard's data: one StatusReport (reference A.2.6, A.7.2)."""
from __future__ import annotations

import datetime as dt

from flamenco_manager import __version__, workers
from flamenco_manager.context import ManagerContext
from flamenco_manager.engine import on_engine

# Workers not seen for longer than this are listed apart as "old workers".
OLD_WORKER_AGE = dt.timedelta(days=14)


@on_engine
def status_report(ctx: ManagerContext) -> dict:
    """Counts, the worker list (with blocklist lines) and the Server link."""
    cutoff = ctx.now() - OLD_WORKER_AGE
    blocklist: dict = {}
    for entry in ctx.state.blocklist.values():
        blocklist.setdefault(entry["worker_id"], []).append(
            {"job_id": str(entry["job_id"]), "task_type": entry["task_type"],
             "_created": entry["_created"].isoformat()})
    current: list[dict] = []
    old: list[dict] = []
    for worker in ctx.state.workers.values():
        wire = workers.to_wire(worker)
        wire["blacklist"] = blocklist.get(worker["_id"], [])
        seen = worker.get("last_activity")
        (current if seen is not None and seen >= cutoff else old).append(wire)
    current.sort(key=lambda w: (w.get("nickname", ""), w.get("status", "")))
    return {
        "nr_of_workers": len(current) + len(old),
        "nr_of_tasks": len(ctx.state.tasks),
        "upstream_queue_size": len(ctx.state.updates),
        "version": __version__,
        "workers": current,
        "old_workers": old,
        "manager_name": ctx.config.manager_name,
        "manager_mode": "production",
        "server": {"name": ctx.config.flamenco, "url": ctx.config.flamenco},
    }
