"""The server's web dashboard: projects, jobs, tasks, Managers, with live updates.

``blueprint`` is mounted at ``/`` by ``flamenco.app.create_app`` (through the
Flamenco extension). Pages read MongoDB directly, one page of rows at a time;
actions change statuses only through ``flamenco.status``; live updates come
from ``flamenco.web.live_feed`` over Server-Sent Events. Templates and assets are
built from ``src/`` by gulp into ``flamenco/static/dist``.
"""
from __future__ import annotations

import flask
from werkzeug.exceptions import HTTPException, default_exceptions

from flamenco import auth
from flamenco.web import last_rendered_views
from flamenco.web import settings_views
from flamenco.web import (access, actions, defaults, job_blocklist_views, jobs_views, joblist, legacy_urls,
                          live_views, managers_views, priority_control, projects_views, session, task_log_views,
                          tasks_views, workers_views)

blueprint = flask.Blueprint("web", __name__, template_folder=str(defaults.TEMPLATES_DIR),
                            static_folder=str(defaults.ASSETS_DIR), static_url_path=defaults.ASSETS_URL_PATH)
for child in (session.bp, projects_views.bp, jobs_views.bp, tasks_views.bp, task_log_views.bp, job_blocklist_views.bp,
              live_views.bp, managers_views.bp, workers_views.bp, priority_control.bp, legacy_urls.bp):
    blueprint.register_blueprint(child)
blueprint.register_blueprint(last_rendered_views.bp)
blueprint.register_blueprint(settings_views.bp)

NOT_BUILT_MESSAGE = ("The dashboard is not built: run `npm ci && npx gulp build` in the source tree "
                     "(`./dev setup` does both).")


@blueprint.app_context_processor
def inject_user() -> dict:
    return {"current_flamenco_user": auth.current_user()}


def wants_json() -> bool:
    """AJAX calls (fetch with Accept: application/json) get JSON errors, pages get HTML."""
    return flask.request.accept_mimetypes.best == "application/json" or flask.request.is_json


def error_page(code: int, title: str, message: str, field: str | None = None) -> flask.typing.ResponseReturnValue:
    """An error as a readable page, or as JSON ``{_message, _issues}`` for scripts."""
    if wants_json():
        body: dict = {"_status": "ERR", "_code": code, "_message": message}
        if field:
            body["_issues"] = {field: message}
        return flask.jsonify(body), code
    if not defaults.TEMPLATES_DIR.is_dir():
        return flask.Response(NOT_BUILT_MESSAGE, status=503, mimetype="text/plain")
    return flask.render_template("error.html", title=title, message=message), code


@blueprint.errorhandler(joblist.FilterError)
def bad_filter(error: joblist.FilterError) -> flask.typing.ResponseReturnValue:
    return error_page(400, "Invalid filter", f"{error.field}: {error.reason}", error.field)


@blueprint.errorhandler(actions.ActionError)
def bad_action(error: actions.ActionError) -> flask.typing.ResponseReturnValue:
    return error_page(400, "Invalid request", f"{error.field}: {error.reason}", error.field)


@blueprint.errorhandler(access.AccessDenied)
def access_denied(error: access.AccessDenied) -> flask.typing.ResponseReturnValue:
    return error_page(403, "Not allowed", str(error))


@blueprint.errorhandler(HTTPException)
def http_error(error: HTTPException) -> flask.typing.ResponseReturnValue:
    titles = {400: "Bad request", 404: "Not found", 405: "Method not allowed"}
    return error_page(error.code or 500, titles.get(error.code or 500, error.name), error.description or error.name)


# Flask prefers the app's per-code handlers (the API's JSON errors) over a
# blueprint's class handler, so the dashboard registers per code as well.
for _code in default_exceptions:
    blueprint.register_error_handler(_code, http_error)


@blueprint.errorhandler(Exception)
def unexpected_error(error: Exception) -> flask.typing.ResponseReturnValue:
    if isinstance(error, HTTPException):
        return http_error(error)
    flask.current_app.logger.exception("dashboard error on %s", flask.request.path)
    return error_page(500, "Something went wrong", "The server hit an unexpected error; it has been logged.")
