"""The startup/update notification document sent to the Server (reference A.4.6)."""
from __future__ import annotations

from flamenco_manager import db as dbmod
from flamenco_manager.context import ManagerContext

# Version of the variables format in the notification.
SETTINGS_VERSION = 2


def build_notification(ctx: ManagerContext) -> dict:
    """Own URL, all variables, worker count and the task types workers support."""
    workers = ctx.db[dbmod.WORKERS]
    return {
        "_meta": {"version": SETTINGS_VERSION},
        "manager_url": ctx.config.own_url,
        "variables": ctx.config.variables,
        "nr_of_workers": workers.count_documents({}),
        "worker_task_types": sorted(t for t in workers.distinct("supported_task_types") if t),
    }
