"""The home page: the projects the user may see, with a job-status summary each."""
from __future__ import annotations

import flask

from flamenco.web import access, store

bp = flask.Blueprint("projects", __name__)


def job_status_summary(project_ids: list) -> dict:
    """``{project_id: {status: n}}`` over all jobs of these projects, in one aggregation."""
    summary: dict = {pid: {} for pid in project_ids}
    if not project_ids:
        return summary
    pipeline = [
        {"$match": {"project": {"$in": project_ids}}},
        {"$group": {"_id": {"project": "$project", "status": "$status"}, "n": {"$sum": 1}}},
    ]
    for row in store.db()["flamenco_jobs"].aggregate(pipeline):
        summary[row["_id"]["project"]][row["_id"]["status"]] = row["n"]
    return summary


@bp.route("/")
@access.login_required
def index() -> flask.typing.ResponseReturnValue:
    user = access.current_user()
    projects = access.visible_projects(user)
    summary = job_status_summary([p["_id"] for p in projects])
    return flask.render_template("projects.html", projects=projects, summary=summary)


@bp.route("/p/<project_url>/")
@access.login_required
def project(project_url: str) -> flask.typing.ResponseReturnValue:
    access.project_access(project_url)
    return flask.redirect(flask.url_for("web.jobs.job_list", project_url=project_url))
