"""Who may manage a project's notifications: its admins (and global admins), nobody else.

A caller who may not even view the project gets "not found", so project ids
do not leak; a member or viewer gets "forbidden". Manager service accounts
are never project members, so they see nothing.
"""
from __future__ import annotations

from bson import ObjectId
from pymongo.database import Database

from flamenco import projects
from flamenco.auth import CurrentUser
from flamenco.store.collections import PROJECTS


class NotAllowed(Exception):
    """The caller may not manage this project's notifications; ``code`` is 403 or 404."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def check_admin(db: Database, user: CurrentUser, project: dict | None) -> dict:
    """``project`` if ``user`` administers it, else :class:`NotAllowed`."""
    if project is None or user.is_manager or not projects.may_view(db, user, project["_id"]):
        raise NotAllowed(404, "no such project visible to you")
    if not projects.may_admin(db, user, project["_id"]):
        raise NotAllowed(403, "only an admin of this project may manage its notifications and read their log")
    return project


def project_by_id(db: Database, project_id: ObjectId) -> dict | None:
    return db[PROJECTS].find_one({"_id": project_id}, {"name": 1, "url": 1, "members": 1})
