"""Eve hooks of ``flamenco_managers``: who sees which Manager."""
from __future__ import annotations

import eve
import flask

from flamenco import projects
from flamenco.auth import roles, scoping
from flamenco.store import current_db


def manager_filter() -> dict | None:
    """Superusers and flamenco-admins see all; a Manager sees itself; users see
    the Managers they own or that serve a project they belong to."""
    user = scoping.require_user()
    db = current_db()
    if user.is_superuser or user.has_cap(roles.CAP_ADMIN):
        return None
    if user.is_manager:
        manager = scoping.manager_of(db, user)
        return {"_id": manager["_id"] if manager else None}
    scoping.require_cap(user, roles.CAP_VIEW)
    visible = projects.visible_project_ids(db, user) or []
    return {"$or": [{"owner_users": user.user_id}, {"projects": {"$in": visible}}]}


def on_pre_get(request: flask.Request, lookup: dict) -> None:
    scoping.restrict(lookup, manager_filter())


def setup_app(app: eve.Eve) -> None:
    app.on_pre_GET_flamenco_managers += on_pre_get
