"""The dashboard's Notifications page of a project: webhooks, e-mail, delivery log.

Project admins only (others get the dashboard's 403/404 page). Plain HTML
forms with CSRF tokens, no script: each action calls the same functions as
the REST API (:mod:`.targets`, :mod:`.dispatch`) and comes back to the page.
A new webhook's secret is rendered in the answer to its form, never put in
the session (whose cookie is signed, not encrypted), so it is shown once.
"""
from __future__ import annotations

import flask
from werkzeug.exceptions import HTTPException

from flamenco import clock
from flamenco.notifications import access, deliveries, defaults, dispatch, targets, validation
from flamenco.notifications.routes import parse_page
from flamenco.web import access as web_access
from flamenco.web import error_page, store
from flamenco.store import current_db
from flamenco.store.collections import PROJECTS

blueprint = flask.Blueprint("notifications_web", __name__, url_prefix="/p/<project_url>/notifications")


def _project(project_url: str) -> dict:
    """The project at this URL if the logged-in user administers it; else a 403/404 page."""
    project = current_db()[PROJECTS].find_one({"url": project_url}, {"name": 1, "url": 1, "members": 1})
    try:
        return access.check_admin(current_db(), web_access.current_user(), project)
    except access.NotAllowed as ex:
        flask.abort(ex.code, description=str(ex))


def _render(project: dict, status: int = 200, **extra: object) -> flask.typing.ResponseReturnValue:
    page = parse_page(flask.request.args.get("page"))
    log, total = deliveries.log_page(current_db(), project["_id"], page)
    page_count = max(1, -(-total // defaults.LOG_PAGE_SIZE))
    context = {"project": project, "webhooks": targets.list_webhooks(current_db(), project["_id"]),
               "settings": targets.project_settings(current_db(), project["_id"]),
               "smtp_enabled": bool(flask.current_app.config["SMTP_HOST"]), "log": log, "log_total": total,
               "page": page, "page_count": page_count, "new_secret": None, "error": None} | extra
    return flask.render_template("notifications.html", **context), status


def _back(project: dict, message: str) -> flask.typing.ResponseReturnValue:
    flask.flash(message)
    return flask.redirect(flask.url_for(".page", project_url=project["url"]))


@blueprint.get("/")
@web_access.login_required
def page(project_url: str) -> flask.typing.ResponseReturnValue:
    return _render(_project(project_url))


@blueprint.post("/webhooks")
@web_access.login_required
def create_webhook(project_url: str) -> flask.typing.ResponseReturnValue:
    project = _project(project_url)
    cfg = flask.current_app.config
    try:
        doc, secret = targets.create_webhook(current_db(), project["_id"], flask.request.form.get("url"),
                                             created_by=web_access.current_user().user_id,
                                             secret_key=cfg["SECRET_KEY"], allowed_hosts=cfg["WEBHOOK_ALLOWED_HOSTS"],
                                             now=clock.utcnow())
    except validation.InvalidSetting as ex:
        return _render(project, 422, error=ex)
    return _render(project, 201, new_secret={"url": doc["url"], "secret": secret})


def _webhook(project: dict, webhook_id: str) -> dict:
    webhook = targets.find_webhook(current_db(), project["_id"], store.object_id_or_404(webhook_id))
    if webhook is None:
        flask.abort(404, description="There is no such webhook in this project.")
    return webhook


@blueprint.post("/webhooks/<webhook_id>/delete")
@web_access.login_required
def delete_webhook(project_url: str, webhook_id: str) -> flask.typing.ResponseReturnValue:
    project = _project(project_url)
    webhook = _webhook(project, webhook_id)
    targets.delete_webhook(current_db(), project["_id"], webhook["_id"])
    return _back(project, f"Webhook {webhook['url']} deleted.")


@blueprint.post("/webhooks/<webhook_id>/test")
@web_access.login_required
def test_webhook(project_url: str, webhook_id: str) -> flask.typing.ResponseReturnValue:
    project = _project(project_url)
    webhook = _webhook(project, webhook_id)
    dispatch.queue_ping(current_db(), project, dispatch.app_enqueue(flask.current_app), clock.utcnow(),
                        webhooks=[webhook])
    return _back(project, f"Test event queued for {webhook['url']}; see the delivery log.")


@blueprint.post("/settings")
@web_access.login_required
def save_settings(project_url: str) -> flask.typing.ResponseReturnValue:
    project = _project(project_url)
    form = {"email_recipients": flask.request.form.get("email_recipients", ""),
            "task_failures": flask.request.form.get("task_failures") == "on"}
    try:
        targets.save_settings(current_db(), project["_id"], form, clock.utcnow())
    except validation.InvalidSetting as ex:
        return _render(project, 422, error=ex)
    return _back(project, "Notification settings saved.")


@blueprint.errorhandler(HTTPException)
def http_error(error: HTTPException) -> flask.typing.ResponseReturnValue:
    titles = {403: "Not allowed", 404: "Not found"}
    code = error.code or 500
    return error_page(code, titles.get(code, error.name), error.description or error.name)


# As in flamenco.web: the app's per-code JSON handlers win over a class handler.
for _code in (400, 403, 404, 405):
    blueprint.register_error_handler(_code, http_error)
