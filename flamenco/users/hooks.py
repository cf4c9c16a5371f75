"""Eve hooks of ``users``: only safe fields leave the server; e-mail only for oneself."""
from __future__ import annotations

import eve
import flask

from flamenco import projects
from flamenco.auth import current_user, scoping
from flamenco.users import SECRET_FIELDS
from flamenco.store import current_db
from flamenco.store.collections import PROJECTS


def _redact(doc: dict) -> None:
    for field in SECRET_FIELDS:
        doc.pop(field, None)
    user = current_user()
    if user is not None and not user.is_superuser and doc.get("_id") != user.user_id:
        doc.pop("email", None)


def user_filter() -> dict | None:
    """Superusers see everyone; a Manager account only itself; people see
    themselves and the members of their projects."""
    user = scoping.require_user()
    if user.is_superuser:
        return None
    if user.is_manager:
        return {"_id": user.user_id}
    db = current_db()
    project_ids = projects.project_ids_with_role(db, user, projects.VIEW_ROLES)
    member_ids = {user.user_id}
    for project in db[PROJECTS].find({"_id": {"$in": project_ids}}, {"members": 1}):
        member_ids.update(m["user"] for m in project.get("members") or ())
    return {"_id": {"$in": sorted(member_ids)}}


def on_pre_get(request: flask.Request, lookup: dict) -> None:
    scoping.restrict(lookup, user_filter())


def on_fetched_resource(response: dict) -> None:
    for doc in response.get("_items", ()):
        _redact(doc)


def on_fetched_item(doc: dict) -> None:
    _redact(doc)


def setup_app(app: eve.Eve) -> None:
    app.on_pre_GET_users += on_pre_get
    app.on_fetched_resource_users += on_fetched_resource
    app.on_fetched_item_users += on_fetched_item
