"""Which fields of an Eve resource a caller may read, and so filter and sort on.

A field the API does not show must not be queryable either: a filter or a
sort on it is a yes/no oracle (a member recovered the admin's bcrypt hash
with ``where={"_id": <admin>, "password_hash": {"$lt": <prefix>}}``). The
rules, in one place:

- A resource shows the fields of its Eve projection (its schema plus ``_id``,
  ``_created``, ``_updated``, ``_etag``); nothing else is readable.
- :data:`CAPABILITY_FIELDS` are shown only to callers with a capability; the
  data layer (:mod:`flamenco.data_layer`) leaves them out of the database
  projection for the others.
- :data:`PER_DOCUMENT_FIELDS` are shown on some documents only (a user's own
  e-mail address), so only superusers may filter or sort on them.

Access is decided per top-level field: a readable field's sub-fields are
readable with it.
"""
from __future__ import annotations

from typing import Mapping

from flamenco.auth import CurrentUser, roles

# resource -> {field: capability needed to read it}. Manager service accounts
# read their own tasks' logs (they wrote them), as for the task_logs resource.
CAPABILITY_FIELDS: Mapping[str, Mapping[str, str]] = {
    "flamenco_tasks": {"log": roles.CAP_VIEW_LOGS},
}
# resource -> fields a caller sees on some documents only (users: their own e-mail).
PER_DOCUMENT_FIELDS: Mapping[str, frozenset[str]] = {
    "users": frozenset({"email"}),
}


def _may_read_capability_field(user: CurrentUser | None, capability: str) -> bool:
    if user is None:
        return False
    if user.is_superuser:
        return True
    if capability == roles.CAP_VIEW_LOGS and user.is_manager:
        return True
    return user.has_cap(capability)


def hidden_fields(resource: str, user: CurrentUser | None) -> frozenset[str]:
    """Fields of ``resource`` the database must not return to ``user``."""
    return frozenset(field for field, capability in CAPABILITY_FIELDS.get(resource, {}).items()
                     if not _may_read_capability_field(user, capability))


def queryable_fields(resource: str, projection: Mapping[str, object], user: CurrentUser | None) -> frozenset[str]:
    """Top-level fields ``user`` may filter and sort ``resource`` on.

    ``projection`` is the resource's Eve projection (``config.SOURCES[resource]["projection"]``).
    """
    shown = {field.split(".", 1)[0] for field, included in projection.items() if included}
    refused = set(hidden_fields(resource, user))
    if user is None or not user.is_superuser:
        refused |= PER_DOCUMENT_FIELDS.get(resource, frozenset())
    return frozenset(shown - refused)
