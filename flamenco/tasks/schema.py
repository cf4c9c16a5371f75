"""Eve resource ``flamenco_tasks`` (``/api/flamenco/tasks``), fields of reference §2.3.

Read-only over Eve: tasks are created by job compilation (one insert_many),
updated by Managers (``flamenco.manager_api``) and by PATCH operations
(``flamenco.tasks.patch``).
"""
from flamenco import defaults
from flamenco.store.collections import TASKS
from flamenco_protocol.statuses import TaskStatus

# Reference §2.3: the 10 task statuses (plain strings: the schema is also published as OpenAPI).
TASK_STATUSES = [s.value for s in TaskStatus]
TASK_TYPES = ["sleep", "blender-render", "exr-merge", "file-management", "video-encoding", "debug"]

RESOURCE = {
    "url": "flamenco/tasks",
    "datasource": {"source": TASKS, "default_sort": [("priority", -1), ("_id", 1)]},
    "resource_methods": ["GET"],
    "item_methods": ["GET"],
    "mongo_indexes": {
        "job": [("job", 1)],
        # A job's tasks in one status: the depsgraph's queued and claimed ones, cancellations to confirm.
        "job_status": [("job", 1), ("status", 1)],
        "parents": [("parents", 1)],
        "manager": [("manager", 1)],
        "manager_status": [("manager", 1), ("status", 1)],
        "updated": [("_updated", -1)],
    },
    "schema": {
        "job": {"type": "objectid"},
        "manager": {"type": "objectid"},
        "project": {"type": "objectid", "required": True},
        "user": {"type": "objectid", "required": True},
        "name": {"type": "string", "required": True},
        "status": {"type": "string", "allowed": TASK_STATUSES, "default": TaskStatus.QUEUED.value},
        "priority": {"type": "integer", "default": 0},
        "job_priority": {"type": "integer", "min": defaults.JOB_PRIORITY_MIN, "max": defaults.JOB_PRIORITY_MAX,
                         "default": defaults.JOB_PRIORITY_DEFAULT},
        "job_type": {"type": "string", "required": True},
        "task_type": {"type": "string", "required": True},
        "commands": {"type": "list", "schema": {"type": "dict", "schema": {
            "name": {"type": "string", "required": True},
            "settings": {"type": "dict", "allow_unknown": True},
        }}},
        "log": {"type": "string"},
        "log_file": {"type": "dict", "schema": {
            "backend": {"type": "string", "required": True},
            "file_path": {"type": "string", "required": True},
        }},
        "activity": {"type": "string", "maxlength": 128},
        "parents": {"type": "list", "schema": {"type": "objectid"}},
        "worker": {"type": "string"},
        "failed_by_workers": {"type": "list", "schema": {"type": "dict", "schema": {
            "id": {"type": "objectid", "required": True},
            "identifier": {"type": "string", "required": True},
        }}},
        "task_progress_percentage": {"type": "integer"},
        "current_command_index": {"type": "integer"},
        "command_progress_percentage": {"type": "integer"},
        "metrics": {"type": "dict", "schema": {"timing": {"type": "dict", "allow_unknown": True}}},
        "status_reason": {"type": "string"},
        # The newest Manager update applied (flamenco.manager_api.task_updates.Watermark).
        "last_applied_update": {"type": "dict", "schema": {
            "received_on_manager": {"type": "datetime"},
            "update_ids": {"type": "list", "schema": {"type": "objectid"}},
        }},
    },
}
