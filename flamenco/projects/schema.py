"""Eve resource ``projects`` (``/api/projects``): listing scoped to membership.

Projects are created with ``flamenco create-project`` (or the dashboard);
membership and Manager assignment change through their own operations.
"""
from flamenco.projects import MEMBER_ROLES
from flamenco.store.collections import PROJECTS

RESOURCE = {
    "url": "projects",
    "datasource": {"source": PROJECTS},
    # Small collection: worth the count query so `_meta.total` is available.
    "optimize_pagination_for_speed": False,
    "resource_methods": ["GET"],
    "item_methods": ["GET"],
    "mongo_indexes": {"url": ([("url", 1)], {"unique": True}), "members.user": [("members.user", 1)]},
    "schema": {
        "name": {"type": "string", "required": True, "maxlength": 128},
        "url": {"type": "string", "required": True, "regex": r"^[a-z0-9][a-z0-9-]{0,63}$", "unique": True},
        "members": {
            "type": "list",
            "schema": {"type": "dict", "schema": {
                "user": {"type": "objectid", "required": True},
                "role": {"type": "string", "required": True, "allowed": list(MEMBER_ROLES)},
            }},
        },
        "extension_props": {"type": "dict", "allow_unknown": True},
    },
}
