"""Flamenco 2's dashboard URLs (``/flamenco/...``), redirected to this dashboard.

Managers, e-mails and bookmarks carry them; the API also hands out
``/flamenco/<project>/tasks/<task>.log.gz`` as the location of uploaded logs.
"""
from __future__ import annotations

import flask

bp = flask.Blueprint("legacy", __name__, url_prefix="/flamenco")


@bp.route("/")
def home() -> flask.typing.ResponseReturnValue:
    return flask.redirect(flask.url_for("web.projects.index"), 301)


@bp.route("/<project_url>/")
@bp.route("/<project_url>/jobs/")
def job_list(project_url: str) -> flask.typing.ResponseReturnValue:
    return flask.redirect(flask.url_for("web.jobs.job_list", project_url=project_url), 301)


@bp.route("/<project_url>/jobs/<job_id>")
def job(project_url: str, job_id: str) -> flask.typing.ResponseReturnValue:
    return flask.redirect(flask.url_for("web.jobs.job_view", project_url=project_url, job_id=job_id), 301)


@bp.route("/<project_url>/tasks/<task_id>")
def task(project_url: str, task_id: str) -> flask.typing.ResponseReturnValue:
    return flask.redirect(flask.url_for("web.tasks.task_view", project_url=project_url, task_id=task_id), 301)


@bp.route("/<project_url>/tasks/<task_id>.log.gz")
def task_log(project_url: str, task_id: str) -> flask.typing.ResponseReturnValue:
    return flask.redirect(flask.url_for("web.tasks.task_log_file", project_url=project_url, task_id=task_id), 307)
