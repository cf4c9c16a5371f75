"""Eve resource ``users`` (``/api/users``): safe fields only, read-only.

Accounts are created with ``flamenco create-user`` or the dashboard; the API
never shows password hashes, tokens or service details.
"""
from flamenco.auth import roles
from flamenco.store.collections import USERS

SAFE_FIELDS = ("username", "full_name", "email", "roles")

RESOURCE = {
    "url": "users",
    "datasource": {"source": USERS, "projection": {f: 1 for f in SAFE_FIELDS}},
    # Small collection: worth the count query so `_meta.total` is available.
    "optimize_pagination_for_speed": False,
    "resource_methods": ["GET"],
    "item_methods": ["GET"],
    "schema": {
        "username": {"type": "string", "required": True, "maxlength": 128},
        "full_name": {"type": "string", "maxlength": 128},
        "email": {"type": "string", "maxlength": 256},
        "roles": {"type": "list", "schema": {"type": "string", "allowed": sorted(roles.KNOWN_ROLES)}},
    },
}
