"""Who may see and change what on the dashboard.

The rules themselves live in ``flamenco.projects`` (membership roles) and
``flamenco.auth.roles`` (capabilities); this module applies them to the
dashboard's pages: log-in redirects, project lookup by URL slug, and the
flags templates use to show or hide actions.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import flask

from flamenco import auth, projects
from flamenco.auth import roles
from flamenco.store import current_db
from flamenco.store.collections import PROJECTS


class AccessDenied(Exception):
    """The logged-in user may not do this; shown as a 403 page."""


def login_required(view: Callable) -> Callable:
    """Send anonymous visitors to the login page, then back here."""
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if auth.current_user() is None:
            return flask.redirect(flask.url_for("web.session.login", next=flask.request.full_path))
        return view(*args, **kwargs)
    return wrapper


def current_user() -> auth.CurrentUser:
    """The logged-in user (views are wrapped in :func:`login_required`)."""
    user = auth.current_user()
    assert user is not None, "view is missing @login_required"
    return user


@dataclasses.dataclass(frozen=True)
class ProjectAccess:
    """A project the current user may view, and what else they may do in it."""

    project: dict
    user: auth.CurrentUser
    role: str

    @property
    def may_change(self) -> bool:
        """Cancel, requeue, pause, archive and delete jobs and tasks."""
        return self.user.is_superuser or (
            self.role in projects.USE_ROLES and self.user.has_cap(roles.CAP_USE))

    @property
    def may_admin(self) -> bool:
        """Assign Managers to the project."""
        return self.user.is_superuser or (
            self.role in projects.ADMIN_ROLES and self.user.has_cap(roles.CAP_USE))

    @property
    def may_view_logs(self) -> bool:
        return self.user.has_cap(roles.CAP_VIEW_LOGS)


def visible_projects(user: auth.CurrentUser) -> list[dict]:
    """Projects the user may view (all of them for a global admin), by name."""
    ids = projects.visible_project_ids(current_db(), user)
    query: dict = {} if ids is None else {"_id": {"$in": ids}}
    return list(current_db()[PROJECTS].find(query, {"name": 1, "url": 1, "members": 1}).sort("name", 1))


def project_access(project_url: str) -> ProjectAccess:
    """The project at this URL slug, if the user may view it; else a 404.

    A project the user cannot see is a 404, so project names do not leak.
    """
    user = current_user()
    project = current_db()[PROJECTS].find_one({"url": project_url})
    if project is None:
        flask.abort(404, description=f"There is no project '{project_url}'.")
    role = "admin" if user.is_superuser else projects.member_role(project, user.user_id)
    if role is None or not (user.is_superuser or user.has_cap(roles.CAP_VIEW)):
        flask.abort(404, description=f"There is no project '{project_url}' that you may view.")
    return ProjectAccess(project=project, user=user, role=role)


def require_change(access: ProjectAccess) -> None:
    """Refuse changes by viewers and users without the flamenco-use capability."""
    if not access.may_change:
        raise AccessDenied("You may view this project's jobs but not change them.")
