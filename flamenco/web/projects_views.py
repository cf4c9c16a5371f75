"""The home page: the projects the user may see, with a job-status summary each."""
from __future__ import annotations

import flask

from bson import ObjectId

from flamenco.web import access, job_cache, store

bp = flask.Blueprint("projects", __name__)


def job_status_summary(project_id: ObjectId) -> dict[str, int]:
    """``{status: n}`` over all jobs of the project (cached until a job of it changes)."""
    def count() -> dict[str, int]:
        pipeline = [{"$match": {"project": project_id}}, {"$group": {"_id": "$status", "n": {"$sum": 1}}}]
        return {row["_id"]: row["n"] for row in store.db()["flamenco_jobs"].aggregate(pipeline)}

    return job_cache.cached(store.cache(), project_id, "status summary", count)


@bp.route("/")
@access.login_required
def index() -> flask.typing.ResponseReturnValue:
    user = access.current_user()
    projects = access.visible_projects(user)
    summary = {p["_id"]: job_status_summary(p["_id"]) for p in projects}
    return flask.render_template("projects.html", projects=projects, summary=summary)


@bp.route("/p/<project_url>/")
@access.login_required
def project(project_url: str) -> flask.typing.ResponseReturnValue:
    access.project_access(project_url)
    return flask.redirect(flask.url_for("web.jobs.job_list", project_url=project_url))
