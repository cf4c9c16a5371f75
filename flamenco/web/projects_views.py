"""The home page: the projects the user may see, with a job-status summary each."""
from __future__ import annotations

import flask

from flamenco.web import access, job_index, store

bp = flask.Blueprint("projects", __name__)


@bp.route("/")
@access.login_required
def index() -> flask.typing.ResponseReturnValue:
    user = access.current_user()
    projects = access.visible_projects(user)
    summary = job_index.status_counts(store.db(), store.cache(), [p["_id"] for p in projects])
    return flask.render_template("projects.html", projects=projects, summary=summary)


@bp.route("/p/<project_url>/")
@access.login_required
def project(project_url: str) -> flask.typing.ResponseReturnValue:
    access.project_access(project_url)
    return flask.redirect(flask.url_for("web.jobs.job_list", project_url=project_url))
