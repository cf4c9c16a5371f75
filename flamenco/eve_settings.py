"""Global Eve settings (per-resource definitions live in each resource package).

Chosen for the local store as well as MongoDB (the store facts are listed in
:mod:`flamenco.store`, with their reference).
"""
from __future__ import annotations

from flamenco import defaults

URL_PREFIX = "api"
# Writes go through named hooks and PATCH operations; PUT would let a client
# rewrite status fields behind flamenco.status's back (reference §14.9).
RESOURCE_METHODS = ["GET"]
ITEM_METHODS = ["GET"]
PAGINATION_DEFAULT = defaults.PAGINATION_DEFAULT
PAGINATION_LIMIT = defaults.PAGINATION_LIMIT
HATEOAS = False
IF_MATCH = True
ENFORCE_IF_MATCH = True
SOFT_DELETE = False
# The local store runs every count as a full scan (flamenco.store: count);
# totals are computed only where a resource asks for them (the small
# collections: projects, users, managers).
OPTIMIZE_PAGINATION_FOR_SPEED = True
# Operators the local store lacks (flamenco.store: operators) or that let a
# client run code or slow scans: 400, not 500.
MONGO_QUERY_BLACKLIST = [
    "$where", "$regex", "$text", "$expr", "$near", "$nearSphere",
    "$geoWithin", "$geoIntersects", "$function", "$accumulator", "$jsonSchema",
]
# Eve's '?where=name=="x"' Python syntax goes through eval-like parsing; JSON only.
QUERY_WHERE = "where"
MONGO_WRITE_CONCERN = {"w": 1}
# Eve's own client options (its default); create_app adds the time-outs of
# flamenco.app.mongo_client_options.
MONGO_OPTIONS = {"connect": True, "tz_aware": True, "uuidRepresentation": "standard"}
X_DOMAINS = None
# Item URLs take 24-hex ObjectIds only; others are answered 400 by flamenco.errors.
ITEM_URL = 'regex("[a-f0-9]{24}")'
# X-HTTP-Method-Override would let a POST act as a PATCH/DELETE past proxies
# and CSRF reasoning; clients here can send real methods.
ALLOW_OVERRIDE_HTTP_METHOD = False
BANDWIDTH_SAVER = True
EMBEDDING = False
VERSIONING = False
# Eve serves an unauthenticated schema endpoint when this is set; keep it off.
SCHEMA_ENDPOINT = None
DATE_FORMAT = "%a, %d %b %Y %H:%M:%S GMT"


def settings() -> dict:
    """These settings as a dict for ``Eve(settings=...)``."""
    return {k: v for k, v in globals().items() if k.isupper()}
