"""Eve resource ``flamenco_managers`` (``/api/flamenco/managers``), reference §2.1.

``owner_users`` replaces Pillar's owner group: the users who may administer
the Manager. Managers are created by ``flamenco.managers.create_manager``
(CLI, dashboard, linking), never by a plain Eve POST that could point at an
arbitrary service account (reference §14.7).
"""
from flamenco.store.collections import MANAGERS

RESOURCE = {
    "url": "flamenco/managers",
    "datasource": {"source": MANAGERS, "default_sort": [("name", 1)]},
    # Small collection: worth the count query so `_meta.total` is available.
    "optimize_pagination_for_speed": False,
    "resource_methods": ["GET"],
    "item_methods": ["GET"],
    "mongo_indexes": {
        "service_account": [("service_account", 1)],
        "projects": [("projects", 1)],
        "owner_users": [("owner_users", 1)],
    },
    "schema": {
        "name": {"type": "string", "required": True, "empty": False, "maxlength": 128},
        "description": {"type": "string", "maxlength": 1024},
        "picture": {"type": "string"},
        "url": {"type": "string"},
        "projects": {"type": "list", "schema": {"type": "objectid"}},
        "service_account": {"type": "objectid", "required": True},
        "owner_users": {"type": "list", "schema": {"type": "objectid"}},
        "settings_version": {"type": "integer", "default": 1},
        "variables": {"type": "dict", "allow_unknown": True},
        "path_replacement": {"type": "dict", "allow_unknown": True},
        "stats": {"type": "dict", "schema": {"nr_of_workers": {"type": "integer"}}},
        "worker_task_types": {"type": "list", "schema": {"type": "string"}},
        "upload_task_file_queue": {"type": "list", "schema": {"type": "dict", "schema": {
            "job": {"type": "objectid"},
            "task": {"type": "objectid"},
        }}},
    },
}
