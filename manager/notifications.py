"""The startup/update notification document sent to the Server (reference A.4.6)."""
from __future__ import annotations

from flamenco_manager.context import ManagerContext
from flamenco_manager.engine import on_engine

# Version of the variables format in the notification.
SETTINGS_VERSION = 2


@on_engine
def build_notification(ctx: ManagerContext) -> dict:
    """Own URL, all variables, worker count and the task types workers support."""
    task_types = {t for w in ctx.state.workers.values() for t in w.get("supported_task_types") or () if t}
    return {
        "_meta": {"version": SETTINGS_VERSION},
        "manager_url": ctx.config.own_url,
        "variables": ctx.config.variables,
        "nr_of_workers": len(ctx.state.workers),
        "worker_task_types": sorted(task_types),
    }
