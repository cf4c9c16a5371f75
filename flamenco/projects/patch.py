"""PATCH operations on projects: membership, by project admins (or superusers)."""
from __future__ import annotations


from flamenco import clock, errors, projects
from flamenco.auth import CurrentUser
from flamenco.extension import PatchOps
from flamenco.projects.hooks import project_filter
from flamenco.status import new_etag
from flamenco.store import current_db
from flamenco.store.collections import PROJECTS, USERS

patch_ops = PatchOps("projects_patch", "/api/projects", PROJECTS, project_filter)
blueprint = patch_ops.blueprint


def _require_admin(user: CurrentUser, project: dict) -> None:
    if user.is_manager or not projects.may_admin(current_db(), user, project["_id"]):
        errors.abort(403, "only an admin of this project may change its members")


def _save_members(project: dict, members: list[dict]) -> None:
    if not any(m["role"] == projects.ROLE_ADMIN for m in members):
        errors.abort(409, "a project cannot lose its last admin", {"user": "is the last admin"})
    current_db()[PROJECTS].update_one(
        {"_id": project["_id"]},
        {"$set": {"members": members, "_updated": clock.utcnow(), "_etag": new_etag()}})


@patch_ops.op("set-member")
def set_member(project: dict, payload: dict, user: CurrentUser) -> None:
    """Add a member, or change a member's role."""
    _require_admin(user, project)
    member_id = errors.parse_object_id(payload.get("user"), "user")
    role = payload.get("role")
    if role not in projects.MEMBER_ROLES:
        errors.abort(422, "invalid member role", {"role": f"must be one of {', '.join(projects.MEMBER_ROLES)}"})
    if current_db()[USERS].find_one({"_id": member_id}, {"_id": 1}) is None:
        errors.abort(404, "user not found", {"user": "no such user"})
    members = [m for m in project.get("members") or [] if m["user"] != member_id]
    members.append({"user": member_id, "role": role})
    _save_members(project, members)


@patch_ops.op("remove-member")
def remove_member(project: dict, payload: dict, user: CurrentUser) -> None:
    _require_admin(user, project)
    member_id = errors.parse_object_id(payload.get("user"), "user")
    members = [m for m in project.get("members") or [] if m["user"] != member_id]
    if len(members) == len(project.get("members") or []):
        errors.abort(404, "that user is not a member", {"user": "not a member"})
    _save_members(project, members)
