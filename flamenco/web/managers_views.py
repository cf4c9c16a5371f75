"""Managers and the workers they report: list, details, presence, project assignment, token revocation.

A user sees the Managers they own and those assigned to projects they may view;
only owners (and global admins) may change a Manager. Assigning a Manager to a
project also requires being an admin of that project.

Whether a Manager is online comes from its last Manager API call
(``flamenco.managers.last_contact``). The pages poll :func:`manager_presence`
every :data:`PRESENCE_POLL_SECONDS`, so a Manager that starts or stops
talking shows without a reload; Managers have no project, so the project
event streams do not reach these pages.
"""
from __future__ import annotations

import datetime

import flask
import redis
import werkzeug

from flamenco import clock, projects
from flamenco.auth import CurrentUser, tokens
from flamenco.managers import last_contact
from flamenco.web import access, store, workers_seen
from flamenco.store import current_db
from flamenco.store.collections import MANAGERS, TOKENS

bp = flask.Blueprint("managers", __name__, url_prefix="/managers")

LIST_PROJECTION = {"name": 1, "description": 1, "url": 1, "projects": 1, "owner_users": 1,
                   "stats": 1, "worker_task_types": 1, last_contact.FIELD: 1}
PRESENCE_PROJECTION = {last_contact.FIELD: 1, "stats": 1}
# How often the Managers pages ask for presence: well below the online window,
# and one small query of the Managers collection per open page at that pace.
PRESENCE_POLL_SECONDS = 5


def visible_manager_filter(user: CurrentUser) -> dict:
    """Managers the user owns or that serve a project the user may view."""
    if user.is_superuser:
        return {}
    project_ids = projects.visible_project_ids(current_db(), user) or []
    return {"$or": [{"owner_users": user.user_id}, {"projects": {"$in": project_ids}}]}


def is_owner(manager: dict, user: CurrentUser) -> bool:
    return user.is_superuser or user.user_id in (manager.get("owner_users") or ())


def load_manager(manager_id: str) -> dict:
    """The Manager with this id if the user may see it, else a 404."""
    user = access.current_user()
    query = {"_id": store.object_id_or_404(manager_id)} | visible_manager_filter(user)
    manager = current_db()[MANAGERS].find_one(query)
    if manager is None:
        flask.abort(404, description="There is no such Manager that you may view.")
    return manager


def reported_workers(manager_id: object) -> list[dict]:
    """Workers the Manager reported on task updates (empty if Redis is unreachable)."""
    try:
        return workers_seen.workers_of(store.cache(), manager_id)
    except redis.RedisError:
        return []


def presence_of(manager: dict, now: datetime.datetime) -> dict:
    """What the pages show of the Manager's last contact: ``presence``, ``last_contact`` (ISO), its text."""
    contact = manager.get(last_contact.FIELD)
    return {
        "_id": str(manager["_id"]),
        "presence": last_contact.presence(manager, now),
        "last_contact": contact.isoformat() if contact else None,
        "last_contact_text": contact.strftime("%Y-%m-%d %H:%M:%S UTC") if contact else "never",
        "nr_of_workers": (manager.get("stats") or {}).get("nr_of_workers"),
    }


def presence_context() -> dict:
    """Template values of the presence poll: its URL, its interval and the online window."""
    return {"presence_url": flask.url_for("web.managers.manager_presence"),
            "presence_poll_ms": PRESENCE_POLL_SECONDS * 1000,
            "online_window_seconds": int(last_contact.ONLINE_WINDOW_SECONDS)}


@bp.route("/")
@access.login_required
def manager_list() -> flask.typing.ResponseReturnValue:
    user = access.current_user()
    managers = list(current_db()[MANAGERS].find(visible_manager_filter(user), LIST_PROJECTION).sort("name", 1))
    project_names = {p["_id"]: p["name"] for p in access.visible_projects(user)}
    now = clock.utcnow()
    return flask.render_template("managers.html", managers=managers, project_names=project_names,
                                 presence={m["_id"]: presence_of(m, now) for m in managers},
                                 **presence_context())


@bp.route("/presence.json")
@access.login_required
def manager_presence() -> flask.typing.ResponseReturnValue:
    """``{managers: [...]}``: presence of every Manager the user may see (polled by the pages)."""
    found = current_db()[MANAGERS].find(visible_manager_filter(access.current_user()), PRESENCE_PROJECTION)
    now = clock.utcnow()
    response = flask.jsonify({"managers": [presence_of(m, now) for m in found],
                              "online_window_seconds": last_contact.ONLINE_WINDOW_SECONDS})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/<manager_id>")
@access.login_required
def manager_view(manager_id: str) -> flask.typing.ResponseReturnValue:
    user = access.current_user()
    manager = load_manager(manager_id)
    visible = access.visible_projects(user)
    assignable = [p for p in visible if p["_id"] not in (manager.get("projects") or ())
                  and (user.is_superuser or projects.member_role(p, user.user_id) in projects.ADMIN_ROLES)]
    return flask.render_template(
        "manager.html", manager=manager, owner=is_owner(manager, user),
        project_names={p["_id"]: p["name"] for p in visible}, assignable=assignable,
        token_count=current_db()[TOKENS].count_documents({"user": manager.get("service_account")}),
        workers=reported_workers(manager["_id"]), project_urls={str(p["_id"]): p["url"] for p in visible},
        presence=presence_of(manager, clock.utcnow()), **presence_context(),
    )


def owned_manager_or_403(manager_id: str) -> dict:
    manager = load_manager(manager_id)
    if not is_owner(manager, access.current_user()):
        raise access.AccessDenied("Only the owners of this Manager may change it.")
    return manager


def back_to(manager: dict, message: str) -> werkzeug.Response:
    flask.flash(message)
    return flask.redirect(flask.url_for("web.managers.manager_view", manager_id=manager["_id"]))


@bp.route("/<manager_id>/projects", methods=["POST"])
@access.login_required
def assign_project(manager_id: str) -> flask.typing.ResponseReturnValue:
    """Assign the Manager to a project (``action=assign``) or remove it (``action=remove``)."""
    manager = owned_manager_or_403(manager_id)
    user = access.current_user()
    project_id = store.object_id_or_404(flask.request.form.get("project", ""))
    action = flask.request.form.get("action", "assign")
    if action == "assign":
        if not projects.may_admin(current_db(), user, project_id):
            raise access.AccessDenied("Only admins of that project may assign Managers to it.")
        current_db()[MANAGERS].update_one({"_id": manager["_id"]}, {"$addToSet": {"projects": project_id}})
        return back_to(manager, "Manager assigned to the project.")
    if action == "remove":
        current_db()[MANAGERS].update_one({"_id": manager["_id"]}, {"$pull": {"projects": project_id}})
        return back_to(manager, "Manager removed from the project.")
    flask.abort(400, description="action: must be 'assign' or 'remove'")


@bp.route("/<manager_id>/revoke-token", methods=["POST"])
@access.login_required
def revoke_token(manager_id: str) -> flask.typing.ResponseReturnValue:
    """Delete every token of the Manager's service account; it must be linked again."""
    manager = owned_manager_or_403(manager_id)
    removed = tokens.revoke_tokens(current_db(), manager["service_account"])
    plural = "s" if removed != 1 else ""
    return back_to(manager, f"Revoked {removed} token{plural}: link the Manager again to reconnect it.")
