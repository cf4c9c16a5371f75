"""Eve resource ``flamenco_task_logs`` (``/api/flamenco/task_logs``), reference §2.4.

Read-only over Eve; the deprecated full-log chunks are written by the
Manager API. ``_id`` equals the Manager's task-update id (idempotent re-sends).
"""
from flamenco.store.collections import TASK_LOGS

RESOURCE = {
    "url": "flamenco/task_logs",
    "datasource": {"source": TASK_LOGS, "default_sort": [("received_on_manager", 1)]},
    "resource_methods": ["GET"],
    "item_methods": ["GET"],
    "mongo_indexes": {"task_received": [("task", 1), ("received_on_manager", 1)]},
    "schema": {
        "task": {"type": "objectid", "required": True},
        "received_on_manager": {"type": "datetime", "required": True},
        "log": {"type": "string", "required": True},
    },
}
