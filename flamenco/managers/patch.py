"""PATCH operations on Managers (reference §5.2), with ownership checks."""
from __future__ import annotations

import uuid

from bson import ObjectId

from flamenco import clock, errors, projects
from flamenco.auth import CurrentUser, roles, scoping
from flamenco.extension import PatchOps
from flamenco.managers import user_is_owner
from flamenco.managers.hooks import manager_filter
from flamenco.store import current_db
from flamenco.store.collections import MANAGERS, PROJECTS, USERS

NAME_MAX = 128
DESCRIPTION_MAX = 1024

patch_ops = PatchOps("flamenco_managers_patch", "/api/flamenco/managers", MANAGERS, manager_filter)
blueprint = patch_ops.blueprint


def _require_owner(user: CurrentUser, manager: dict) -> None:
    scoping.require_cap(user, roles.CAP_USE)
    if not user_is_owner(user, manager):
        errors.abort(403, "only an owner of this Manager may do this")


def _update(manager_id: ObjectId, update: dict) -> None:
    update.setdefault("$set", {}).update({"_updated": clock.utcnow(), "_etag": uuid.uuid4().hex})
    current_db()[MANAGERS].update_one({"_id": manager_id}, update)


def _project_arg(payload: dict) -> ObjectId:
    project_id = errors.parse_object_id(payload.get("project"), "project")
    if current_db()[PROJECTS].find_one({"_id": project_id}, {"_id": 1}) is None:
        errors.abort(404, "project not found", {"project": "no such project"})
    return project_id


@patch_ops.op("assign-to-project")
def assign_to_project(manager: dict, payload: dict, user: CurrentUser) -> None:
    """Owners may assign their Manager to projects they administer."""
    _require_owner(user, manager)
    project_id = _project_arg(payload)
    if not projects.may_admin(current_db(), user, project_id):
        errors.abort(403, "you must be an admin of the project to assign a Manager to it")
    assigned = sorted(set(manager.get("projects") or []) | {project_id})
    _update(manager["_id"], {"$set": {"projects": assigned}})


@patch_ops.op("remove-from-project")
def remove_from_project(manager: dict, payload: dict, user: CurrentUser) -> None:
    """Owners may unassign their Manager from any project."""
    _require_owner(user, manager)
    project_id = errors.parse_object_id(payload.get("project"), "project")
    remaining = sorted(set(manager.get("projects") or []) - {project_id})
    _update(manager["_id"], {"$set": {"projects": remaining}})


@patch_ops.op("edit-from-web")
def edit_from_web(manager: dict, payload: dict, user: CurrentUser) -> None:
    """Rename or re-describe a Manager."""
    _require_owner(user, manager)
    issues: dict[str, str] = {}
    changes: dict[str, str] = {}
    for field, maxlen, required in (("name", NAME_MAX, True), ("description", DESCRIPTION_MAX, False)):
        if field not in payload:
            continue
        value = payload[field]
        if not isinstance(value, str):
            issues[field] = "must be a string"
        elif required and not value.strip():
            issues[field] = "must not be empty"
        elif len(value) > maxlen:
            issues[field] = f"max length is {maxlen}"
        else:
            changes[field] = value
    if issues:
        errors.abort(422, "invalid Manager fields", issues)
    if not changes:
        errors.abort(422, "nothing to change", {"name": "give name and/or description"})
    _update(manager["_id"], {"$set": changes})


@patch_ops.op("change-ownership")
def change_ownership(manager: dict, payload: dict, user: CurrentUser) -> None:
    """Share the Manager with another Flamenco user, or stop sharing it."""
    _require_owner(user, manager)
    action = payload.get("action")
    if action not in ("share", "unshare"):
        errors.abort(400, "unknown ownership action", {"action": "must be 'share' or 'unshare'"})
    subject_id = errors.parse_object_id(payload.get("user"), "user")
    owners = list(manager.get("owner_users") or [])
    if action == "share":
        if subject_id == user.user_id:
            errors.abort(400, "you cannot share a Manager with yourself", {"user": "is yourself"})
        subject = current_db()[USERS].find_one({"_id": subject_id}, {"roles": 1})
        if subject is None:
            errors.abort(404, "user not found", {"user": "no such user"})
        if roles.CAP_USE not in roles.capabilities_for(subject.get("roles") or ()):
            errors.abort(403, "that user may not use Flamenco", {"user": "lacks the flamenco-use capability"})
        if subject_id not in owners:
            owners.append(subject_id)
    else:
        if subject_id not in owners:
            errors.abort(400, "that user does not own this Manager", {"user": "is not an owner"})
        if len(owners) < 2:
            errors.abort(400, "Manager cannot become ownerless.", {"user": "is the last owner"})
        owners.remove(subject_id)
    _update(manager["_id"], {"$set": {"owner_users": owners}})
