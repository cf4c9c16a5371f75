"""The home page: the projects the user may see, with a job-status summary each; and the site icon."""
from __future__ import annotations

from pathlib import Path

import flask

from flamenco.web import access, job_index, store
from flamenco.store import current_db

bp = flask.Blueprint("projects", __name__)

# Pages link it with <link rel="icon">; browsers and tools that ask for /favicon.ico get it too.
FAVICON = Path(__file__).resolve().parent.parent / "static" / "favicon.svg"
# An icon changes about never; a day spares every page view the request.
FAVICON_MAX_AGE_SECONDS = 24 * 3600


@bp.route("/")
@access.login_required
def index() -> flask.typing.ResponseReturnValue:
    user = access.current_user()
    projects = access.visible_projects(user)
    summary = job_index.status_counts(current_db(), store.cache(), [p["_id"] for p in projects])
    return flask.render_template("projects.html", projects=projects, summary=summary)


@bp.route("/p/<project_url>/")
@access.login_required
def project(project_url: str) -> flask.typing.ResponseReturnValue:
    access.project_access(project_url)
    return flask.redirect(flask.url_for("web.jobs.job_list", project_url=project_url))


@bp.route("/favicon.ico")
def favicon() -> flask.typing.ResponseReturnValue:
    """The site icon, without log-in (browsers ask before anyone logs in)."""
    return flask.send_file(FAVICON, mimetype="image/svg+xml", max_age=FAVICON_MAX_AGE_SECONDS)
