"""The last-rendered image on the dashboard: a job's newest preview, and the newest of the farm.

Managers upload the previews (``flamenco.manager_api.last_rendered``). A job's
image is shown to whoever may view its project (404 otherwise, like the job
page itself); the farm page shows the newest image among the projects the
user may view, and polls for a newer one (it belongs to no project, so no
project event stream reaches it). Image URLs carry the upload time as a
stamp, so a browser may cache each image and a new one is a new URL.
"""
from __future__ import annotations

import flask

from flamenco.web import live_events
from flamenco.manager_api import last_rendered, storage
from flamenco.web import access
from flamenco.web.jobs_views import load_job
from flamenco.store import current_db
from flamenco.store.collections import JOBS

bp = flask.Blueprint("last_rendered", __name__)

# The farm page asks for a newer image this often (ms).
FARM_POLL_MS = 5000
# A stamped image URL never changes content: cache it for a day.
IMAGE_MAX_AGE_SECONDS = 24 * 3600


@bp.app_template_global("last_rendered_stamp")
def stamp(job: dict) -> str:
    """The job's preview stamp: its upload time as the job's live events carry it ("" when none)."""
    return live_events.jsonable(job["last_rendered"]) if job.get("last_rendered") else ""


def image_url(project_url: str, job: dict) -> str:
    """The stamped URL of a job's preview image."""
    return flask.url_for("web.last_rendered.job_image", project_url=project_url, job_id=job["_id"], v=stamp(job))


@bp.route("/p/<project_url>/jobs/<job_id>/last-rendered.jpg")
@access.login_required
def job_image(project_url: str, job_id: str) -> flask.typing.ResponseReturnValue:
    """The job's newest preview image; 404 when there is none or the user may not view the project."""
    acc = access.project_access(project_url)
    job = load_job(acc, job_id)
    path = last_rendered.image_path(storage.storage_dir(flask.current_app.config), job["_id"])
    if not job.get("last_rendered") or not path.is_file():
        flask.abort(404, description="No frame of this job was rendered yet.")
    max_age = IMAGE_MAX_AGE_SECONDS if flask.request.args.get("v") else 0
    response = flask.send_file(path, mimetype="image/jpeg", max_age=max_age, conditional=True)
    response.cache_control.private = True
    return response


def newest_for_user() -> dict | None:
    """The newest preview of the projects the user may view, as the farm page shows it; None if none."""
    projects = {p["_id"]: p for p in access.visible_projects(access.current_user())}
    newest = last_rendered.newest_of_projects(current_db(), list(projects))
    if newest is None:
        return None
    job = current_db()[JOBS].find_one({"_id": newest["job"]}, {"name": 1, "last_rendered": 1})
    if job is None or not job.get("last_rendered"):
        return None
    project = projects[newest["_id"]]
    return {
        "at": stamp(job),
        "image_url": image_url(project["url"], job),
        "job_name": job.get("name", ""),
        "job_url": flask.url_for("web.jobs.job_view", project_url=project["url"], job_id=job["_id"]),
        "project_name": project.get("name", ""),
    }


@bp.route("/last-rendered")
@access.login_required
def farm_page() -> flask.typing.ResponseReturnValue:
    return flask.render_template("last_rendered.html", newest=newest_for_user(), poll_ms=FARM_POLL_MS)



@bp.route("/last-rendered.json")
@access.login_required
def farm_newest() -> flask.typing.ResponseReturnValue:
    """``{newest: {...} | null}``: what the farm page polls."""
    response = flask.jsonify({"newest": newest_for_user()})
    response.cache_control.no_store = True
    return response
