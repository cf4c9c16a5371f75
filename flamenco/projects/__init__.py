"""Projects and membership: which jobs, tasks and Managers a user may see or change.

A project lists its ``members`` as ``{user, role}`` with role ``admin``,
``member`` or ``viewer``. Viewers may view; members and admins may also use
(submit, change jobs); admins may also manage membership and assign Managers.
Capabilities (``flamenco.auth.roles``) still gate the kind of action. Global
admins (role ``admin``) are superusers and see every project.
"""
from __future__ import annotations

import re
from typing import Iterable

from bson import ObjectId
from pymongo.database import Database

from flamenco.auth import CurrentUser, roles
from flamenco.store.collections import PROJECTS
from flamenco.users import stamp_new

ROLE_ADMIN = "admin"
ROLE_MEMBER = "member"
ROLE_VIEWER = "viewer"
MEMBER_ROLES = (ROLE_ADMIN, ROLE_MEMBER, ROLE_VIEWER)
# Which member roles allow which level of access.
VIEW_ROLES = frozenset(MEMBER_ROLES)
USE_ROLES = frozenset({ROLE_ADMIN, ROLE_MEMBER})
ADMIN_ROLES = frozenset({ROLE_ADMIN})

# Project URL slugs appear in dashboard URLs: lower-case words and dashes.
URL_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class ProjectError(ValueError):
    """A project could not be created as asked (e.g. a duplicate URL)."""


def slugify(name: str) -> str:
    """A URL slug derived from a project name."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:64] or "project"


def create_project(db: Database, name: str, *, url: str | None = None,
                   members: Iterable[tuple[ObjectId, str]] = ()) -> dict:
    """Insert a Flamenco project and return its document."""
    url = url or slugify(name)
    if not URL_SLUG.match(url):
        raise ProjectError(f"project url {url!r} must be lower-case letters, digits and dashes")
    if db[PROJECTS].find_one({"url": url}, {"_id": 1}):
        raise ProjectError(f"a project with url {url!r} already exists")
    member_docs = []
    for user_id, role in members:
        if role not in MEMBER_ROLES:
            raise ProjectError(f"member role {role!r} is not one of {', '.join(MEMBER_ROLES)}")
        member_docs.append({"user": ObjectId(user_id), "role": role})
    doc = stamp_new({"name": name, "url": url, "members": member_docs,
                     "extension_props": {"flamenco": {}}})
    db[PROJECTS].insert_one(doc)
    return doc


def member_role(project: dict, user_id: ObjectId) -> str | None:
    """The role of ``user_id`` in ``project``, or None if not a member."""
    for member in project.get("members") or ():
        if member.get("user") == user_id:
            return member.get("role")
    return None


def project_ids_with_role(db: Database, user: CurrentUser, allowed: frozenset[str]) -> list[ObjectId]:
    """Ids of the projects where ``user`` has one of the ``allowed`` member roles."""
    found = db[PROJECTS].find({"members.user": user.user_id}, {"members": 1})
    return [p["_id"] for p in found if member_role(p, user.user_id) in allowed]


def visible_project_ids(db: Database, user: CurrentUser) -> list[ObjectId] | None:
    """Projects whose Flamenco data ``user`` may view; None means all (superuser)."""
    if user.is_superuser:
        return None
    if not user.has_cap(roles.CAP_VIEW):
        return []
    return project_ids_with_role(db, user, VIEW_ROLES)


def _has_role(db: Database, user: CurrentUser, project_id: ObjectId, allowed: frozenset[str]) -> bool:
    project = db[PROJECTS].find_one({"_id": project_id}, {"members": 1})
    return project is not None and member_role(project, user.user_id) in allowed


def may_view(db: Database, user: CurrentUser, project_id: ObjectId) -> bool:
    """May ``user`` view jobs and tasks of this project?"""
    if user.is_superuser:
        return True
    return user.has_cap(roles.CAP_VIEW) and _has_role(db, user, project_id, VIEW_ROLES)


def may_use(db: Database, user: CurrentUser, project_id: ObjectId) -> bool:
    """May ``user`` submit and change jobs and tasks of this project?"""
    if user.is_superuser:
        return True
    return user.has_cap(roles.CAP_USE) and _has_role(db, user, project_id, USE_ROLES)


def may_admin(db: Database, user: CurrentUser, project_id: ObjectId) -> bool:
    """May ``user`` manage this project (members, Manager assignment)?"""
    if user.is_superuser:
        return True
    return user.has_cap(roles.CAP_USE) and _has_role(db, user, project_id, ADMIN_ROLES)
