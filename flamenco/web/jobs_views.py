"""Job pages of a project: the job list, one job, its tasks and dependency graph."""
from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any, Iterable

import flask

from flamenco import job_compilers, status, task_counts
from flamenco.jobs import dependencies
from flamenco.jobs.hooks import DELETABLE_JOB_STATES
from flamenco.web import access, actions, defaults, joblist, store, task_index
from flamenco.workers import eligibility
from flamenco.store import current_db
from flamenco.store.collections import JOBS, MANAGERS, USERS
from flamenco_protocol.statuses import JobStatus

bp = flask.Blueprint("jobs", __name__, url_prefix="/p/<project_url>/jobs")

# The statuses people filter on, first in the job list's status filter; the
# others (construction, requeue and archival steps) follow in their own group.
COMMON_JOB_STATUSES = (JobStatus.ACTIVE, JobStatus.QUEUED, JobStatus.PAUSED, JobStatus.COMPLETED, JobStatus.FAILED,
                       JobStatus.CANCEL_REQUESTED, JobStatus.CANCELED, JobStatus.ARCHIVED)
# Confirmations of actions that flamenco.web.actions does not ask for (yet):
# a cancel stops the job's running renders (issue 14 #7).
EXTRA_CONFIRMATIONS = {
    "cancel": "Cancel the selected jobs? Their running tasks are stopped on the workers.",
}
DELETE_CONFIRMATION = "Delete this job for good? Its tasks and task logs are deleted too."


def job_actions_confirmed(selected: Iterable[actions.Action]) -> list[actions.Action]:
    """The job actions, each with a confirmation if it has one here or in ``actions``."""
    return [dataclasses.replace(a, confirm=a.confirm or EXTRA_CONFIRMATIONS.get(a.name, "")) for a in selected]


def status_filter_groups() -> list[tuple[str, tuple[str, ...]]]:
    """The job statuses of the status filter: ``(group label, statuses)``, common ones first."""
    others = tuple(s for s in actions.JOB_STATUSES if s not in COMMON_JOB_STATUSES)
    return [("Common", COMMON_JOB_STATUSES), ("Other", others)]


def names_by_id(collection: str, ids: Iterable, field: str) -> dict[Any, str]:
    """Display names of the documents with these ids (users, managers)."""
    wanted = [i for i in set(ids) if i is not None]
    if not wanted:
        return {}
    docs = current_db()[collection].find({"_id": {"$in": wanted}}, {field: 1, "username": 1})
    return {d["_id"]: d.get(field) or d.get("username") or str(d["_id"]) for d in docs}


def filter_choices(acc: access.ProjectAccess) -> dict:
    """What the job list's filter menus offer: the known job types, the project's managers and members.

    Nothing here reads the jobs collection: a ``distinct`` over it would cost a
    full scan on the local store (flamenco.store: scan).
    """
    db = current_db()
    pid = acc.project["_id"]
    managers = {m["_id"]: m.get("name") or str(m["_id"])
                for m in db[MANAGERS].find({"projects": pid}, {"name": 1})}
    members = names_by_id(USERS, [m.get("user") for m in acc.project.get("members") or ()], "full_name")
    return {
        "status_groups": status_filter_groups(),
        "job_types": sorted(job_compilers.JOB_TYPES),
        "managers": sorted(managers.items(), key=lambda kv: kv[1].lower()),
        "users": sorted(members.items(), key=lambda kv: kv[1].lower()),
    }


def job_list_context(acc: access.ProjectAccess) -> dict:
    """Everything the job table needs: one page of jobs plus their task counts and names.

    The counts are those the rules keep in each job document (``flamenco.task_counts``):
    one read of the page's jobs, where the task read model would read every task of
    every job shown when Redis has not seen them yet.
    """
    query = joblist.parse_query(flask.request.args, actions.JOB_STATUSES)
    page = joblist.fetch_page(current_db(), store.cache(), acc.project["_id"], query)
    job_ids = [j["_id"] for j in page.jobs]
    counts = task_counts.read_many(current_db(), job_ids)
    return {
        "acc": acc, "project": acc.project, "query": query, "page": page,
        "counts": counts, "progress": {j: task_index.progress(c) for j, c in counts.items()},
        "manager_names": names_by_id(MANAGERS, [j.get("manager") for j in page.jobs], "name"),
        "user_names": names_by_id(USERS, [j.get("user") for j in page.jobs], "full_name"),
        "job_actions": job_actions_confirmed(actions.JOB_ACTIONS),
        "page_url": lambda n: flask.url_for("web.jobs.job_list", project_url=acc.project["url"],
                                            **query.query_args(page=n)),
    }


@bp.route("/")
@access.login_required
def job_list(project_url: str) -> flask.typing.ResponseReturnValue:
    acc = access.project_access(project_url)
    context = job_list_context(acc)
    return flask.render_template("job_list.html", choices=filter_choices(acc), **context)


@bp.route("/rows")
@access.login_required
def job_rows(project_url: str) -> flask.typing.ResponseReturnValue:
    """The job table alone, re-fetched by the page on live updates."""
    acc = access.project_access(project_url)
    return flask.render_template("_job_table.html", **job_list_context(acc))


@bp.route("/actions", methods=["POST"])
@access.login_required
def job_actions(project_url: str) -> flask.typing.ResponseReturnValue:
    """Apply one action to the selected jobs; JSON ``{done: [ids], skipped: [{_id, reason}]}``."""
    acc = access.project_access(project_url)
    access.require_change(acc)
    action, raw_ids = actions.request_fields()
    result = actions.apply_job_action(current_db(), acc, action, raw_ids)
    return flask.jsonify(result)


def load_job(acc: access.ProjectAccess, job_id: str) -> dict:
    """The job with this id in this project, or a 404.

    Queried by ``_id`` alone, the one filter the upstream local store
    evaluates in SQL (flamenco.store: scan); the project is checked here.
    """
    job = current_db()[JOBS].find_one({"_id": store.object_id_or_404(job_id)})
    if job is None or job.get("project") != acc.project["_id"]:
        flask.abort(404, description="This project has no such job (it may have been deleted).")
    return job


def task_page_number() -> int:
    try:
        return max(1, int(flask.request.args.get("page") or 1))
    except ValueError:
        flask.abort(400, description="page: must be a whole number")


def job_context(acc: access.ProjectAccess, job: dict) -> dict:
    """The job's summary, actions and one page of its tasks (from the task index)."""
    rows = task_index.rows_for_job(current_db(), store.cache(), job["_id"])
    counts = dict(Counter(row.get("status", "unknown") for row in rows))
    page_count = max(1, -(-len(rows) // defaults.TASK_PAGE_SIZE))
    page = min(task_page_number(), page_count)
    start = (page - 1) * defaults.TASK_PAGE_SIZE
    return {
        "acc": acc, "project": acc.project, "job": job, "counts": counts,
        "progress": task_index.progress(counts), "tasks": rows[start:start + defaults.TASK_PAGE_SIZE],
        "task_page": page, "task_page_count": page_count,
        "task_page_url": lambda n: flask.url_for("web.jobs.job_view", project_url=acc.project["url"],
                                                 job_id=job["_id"], page=n),
        "manager_name": names_by_id(MANAGERS, [job.get("manager")], "name").get(job.get("manager")),
        "user_name": names_by_id(USERS, [job.get("user")], "full_name").get(job.get("user")),
        "job_actions": job_actions_confirmed(a for a in actions.JOB_ACTIONS if a.applies_to(job.get("status"))),
        "archive_available": actions.archive_path(job) is not None,
        "delete": delete_button(acc, job),
        "dependencies": dependencies.dependency_view(current_db(), job),
        "requirements": eligibility.requirements_view(current_db(), job),
    }


def delete_blocked_reason(current: str) -> str:
    """Why a job in this status cannot be deleted yet, and what to do ("" if it can be)."""
    if current in DELETABLE_JOB_STATES:
        return ""
    then = ("Cancel it first, and delete it once it is canceled." if current in status.CANCELABLE_JOB_STATES
            else "Wait until it is finished, canceled or failed.")
    return f"This job is {current.replace('-', ' ')}: it cannot be deleted while its tasks may still run. {then}"


def delete_button(acc: access.ProjectAccess, job: dict) -> dict | None:
    """The job page's Delete button (None if the user may not change jobs).

    The page deletes through the REST API (``DELETE /api/flamenco/jobs/<id>``,
    whose hooks own the rules); ``blocked`` explains at once why a job still
    running cannot go, instead of a request the API would refuse.
    """
    if not acc.may_change:
        return None
    return {"url": f"/api/flamenco/jobs/{job['_id']}", "etag": job.get("_etag", ""),
            "blocked": delete_blocked_reason(job.get("status") or "unknown"),
            "confirm": DELETE_CONFIRMATION,
            "done_url": flask.url_for("web.jobs.job_list", project_url=acc.project["url"])}


@bp.route("/<job_id>")
@access.login_required
def job_view(project_url: str, job_id: str) -> flask.typing.ResponseReturnValue:
    acc = access.project_access(project_url)
    job = load_job(acc, job_id)
    return flask.render_template("job.html", **job_context(acc, job))


@bp.route("/<job_id>/live")
@access.login_required
def job_live(project_url: str, job_id: str) -> flask.typing.ResponseReturnValue:
    """The job's summary and task table alone, re-fetched by the page on live updates."""
    acc = access.project_access(project_url)
    job = load_job(acc, job_id)
    return flask.render_template("_job_live.html", **job_context(acc, job))


@bp.route("/<job_id>/depsgraph.json")
@access.login_required
def job_depsgraph(project_url: str, job_id: str) -> flask.typing.ResponseReturnValue:
    """Nodes and edges of the job's task graph (at most DEPSGRAPH_MAX_NODES tasks)."""
    acc = access.project_access(project_url)
    job = load_job(acc, job_id)
    rows = task_index.rows_for_job(current_db(), store.cache(), job["_id"])
    tasks = sorted(rows, key=lambda t: t["_id"])
    truncated = len(tasks) > defaults.DEPSGRAPH_MAX_NODES
    tasks = tasks[:defaults.DEPSGRAPH_MAX_NODES]
    present = {t["_id"] for t in tasks}
    return flask.jsonify({
        "nodes": [{"id": str(t["_id"]), "name": t.get("name", ""), "status": t.get("status", "")} for t in tasks],
        "edges": [{"source": str(p), "target": str(t["_id"])}
                  for t in tasks for p in t.get("parents") or () if p in present],
        "truncated": truncated,
    })


@bp.route("/<job_id>/archive")
@access.login_required
def job_archive(project_url: str, job_id: str) -> flask.typing.ResponseReturnValue:
    """Download the ZIP made when the job was archived."""
    acc = access.project_access(project_url)
    job = load_job(acc, job_id)
    path = actions.archive_path(job)
    if path is None:
        flask.abort(404, description="This job has no archive to download (it is not archived yet).")
    return flask.send_file(path, as_attachment=True, download_name=f"flamenco-job-{job['_id']}.zip")
