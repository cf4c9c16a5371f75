"""Job-on-job dependencies (``depends_on``): refused inputs, waiting, release, failure policies, cycles.

Through the server's REST API and Manager API (Flask test client on real
FerretDB); tasks finish through the status rules, as the Manager API applies them.
"""
from __future__ import annotations

from bson import ObjectId

from flamenco import status
from tests.support.server import job_doc, make_job

JOBS = "/api/flamenco/jobs"


def submit(world, name: str, who: str = "alice", **fields) -> dict:
    """POST a 3-task sleep job to project A; the stored job."""
    doc = job_doc(world.project_a, world.manager_a, world.alice, name=name)
    doc.update({key: ([str(v) for v in value] if key == "depends_on" else value) for key, value in fields.items()})
    resp = world.api(who).post(JOBS, json=doc)
    assert resp.status_code == 201, resp.get_json()
    return job(world, resp.get_json()["_id"])


def refused(world, **fields):
    doc = job_doc(world.project_a, world.manager_a, world.alice, name="refused")
    doc.update(fields)
    return world.api("alice").post(JOBS, json=doc)


def job(world, job_id) -> dict:
    return world.db["flamenco_jobs"].find_one({"_id": ObjectId(job_id)})


def task_statuses(world, job_id) -> set[str]:
    return {t["status"] for t in world.db["flamenco_tasks"].find({"job": job_id})}


def finish_tasks(world, job_id, task_status: str = "completed", count: int | None = None) -> None:
    """Report tasks of the job ``task_status`` as a Manager does (through flamenco.status)."""
    tasks = list(world.db["flamenco_tasks"].find({"job": job_id}))[:count]
    for task in tasks:
        status.set_task_status(world.db, task["_id"], task_status, actor=status.Actor.MANAGER)


def depsgraph_jobs(world) -> set[ObjectId]:
    """The jobs whose tasks Manager A's clean-slate depsgraph hands out."""
    resp = world.api("manager_a").get(f"/api/flamenco/managers/{world.manager_a['_id']}/depsgraph")
    if resp.status_code == 204:
        return set()
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return {ObjectId(t["job"]) for t in resp.get_json()["depsgraph"]}


def set_status(world, job_doc_: dict, new_status: str):
    return world.api("alice").patch(f"{JOBS}/{job_doc_['_id']}", json={"op": "set-job-status", "status": new_status})


def test_unknown_malformed_and_too_many_dependencies_are_422_naming_depends_on(world):
    unknown = ObjectId()
    resp = refused(world, depends_on=[str(unknown)])
    assert resp.status_code == 422
    assert str(unknown) in resp.get_json()["_issues"]["depends_on"]
    resp = refused(world, depends_on=["render-A"])
    assert resp.status_code == 422 and "depends_on" in resp.get_json()["_issues"]
    resp = refused(world, depends_on=[str(ObjectId()) for _ in range(33)])
    assert resp.status_code == 422 and "depends_on" in resp.get_json()["_issues"]
    resp = refused(world, on_dependency_failure="explode")
    assert resp.status_code == 422 and "on_dependency_failure" in resp.get_json()["_issues"]
    assert world.db["flamenco_jobs"].count_documents({}) == 0


def test_a_job_of_another_project_is_refused(world):
    other = make_job(world.db, world.project_b, world.manager_b, world.bob, name="bob's render")
    resp = refused(world, depends_on=[str(other["_id"])])
    assert resp.status_code == 422
    assert "not in this job's project" in resp.get_json()["_issues"]["depends_on"]
    assert world.db["flamenco_jobs"].count_documents({"project": world.project_a["_id"]}) == 0


def test_dependent_waits_with_queued_tasks_that_no_manager_gets(world):
    render = submit(world, "render-A")
    comp = submit(world, "comp", depends_on=[render["_id"]])
    assert comp["status"] == "waiting-for-jobs"
    assert comp["status_reason"] == "Waiting for 1 job: 'render-A' (queued)"
    assert task_statuses(world, comp["_id"]) == {"queued"}
    assert world.api("alice").get(f"{JOBS}/{comp['_id']}").get_json()["depends_on"] == [str(render["_id"])]
    assert depsgraph_jobs(world) == {render["_id"]}


def test_released_when_the_last_dependency_completes(world):
    render = submit(world, "render-A")
    bake = submit(world, "bake-B")
    comp = submit(world, "comp", depends_on=[render["_id"], bake["_id"]])
    assert comp["status_reason"] == "Waiting for 2 jobs: 'render-A' (queued), 'bake-B' (queued)"
    finish_tasks(world, render["_id"])
    assert job(world, render["_id"])["status"] == "completed"
    comp = job(world, comp["_id"])
    assert comp["status"] == "waiting-for-jobs"
    assert comp["status_reason"] == "Waiting for 1 job: 'bake-B' (queued)"
    assert depsgraph_jobs(world) == {bake["_id"]}
    finish_tasks(world, bake["_id"])
    comp = job(world, comp["_id"])
    assert comp["status"] == "queued"
    assert comp["status_reason"] == "Released: the 2 jobs it waited for completed"
    assert depsgraph_jobs(world) == {comp["_id"]}


def test_a_dependency_completed_before_submission_is_met_at_once(world):
    render = submit(world, "render-A")
    finish_tasks(world, render["_id"])
    comp = submit(world, "comp", depends_on=[render["_id"]])
    assert comp["status"] == "queued"


def test_failed_dependency_fails_the_dependent_by_default(world):
    render = submit(world, "render-A")
    comp = submit(world, "comp", depends_on=[render["_id"]])
    assert comp["on_dependency_failure"] == "fail"
    finish_tasks(world, render["_id"], "failed", count=1)
    assert job(world, render["_id"])["status"] == "failed"
    comp = job(world, comp["_id"])
    assert comp["status"] == "failed"
    assert "'render-A'" in comp["status_reason"] and "is failed" in comp["status_reason"]
    assert task_statuses(world, comp["_id"]) == {"canceled"}


def test_failure_chains_through_waiting_jobs(world):
    render = submit(world, "render-A")
    comp = submit(world, "comp", depends_on=[render["_id"]])
    video = submit(world, "video", depends_on=[comp["_id"]])
    finish_tasks(world, render["_id"], "failed", count=1)
    assert job(world, comp["_id"])["status"] == "failed"
    assert job(world, video["_id"])["status"] == "failed"
    assert "'comp'" in job(world, video["_id"])["status_reason"]


def test_canceled_dependency_with_wait_policy_keeps_waiting_until_requeued_and_completed(world):
    render = submit(world, "render-A")
    comp = submit(world, "comp", depends_on=[render["_id"]], on_dependency_failure="wait")
    assert set_status(world, render, "cancel-requested").status_code == 204
    assert job(world, render["_id"])["status"] == "canceled"
    comp = job(world, comp["_id"])
    assert comp["status"] == "waiting-for-jobs"
    assert comp["status_reason"] == "Waiting for 1 job: 'render-A' (canceled; requeue it)"
    assert set_status(world, render, "requeued").status_code == 204
    assert job(world, comp["_id"])["status_reason"] == "Waiting for 1 job: 'render-A' (queued)"
    finish_tasks(world, render["_id"])
    assert job(world, comp["_id"])["status"] == "queued"


def test_canceled_dependency_fails_a_dependent_with_the_fail_policy(world):
    render = submit(world, "render-A")
    comp = submit(world, "comp", depends_on=[render["_id"]], on_dependency_failure="fail")
    set_status(world, render, "cancel-requested")
    comp = job(world, comp["_id"])
    assert comp["status"] == "failed" and "is canceled" in comp["status_reason"]


def test_a_waiting_job_can_be_canceled_paused_and_requeued_and_still_waits(world):
    render = submit(world, "render-A")
    comp = submit(world, "comp", depends_on=[render["_id"]])
    assert set_status(world, comp, "paused").status_code == 204
    assert task_statuses(world, comp["_id"]) == {"paused"}
    assert set_status(world, comp, "queued").status_code == 204
    assert job(world, comp["_id"])["status"] == "waiting-for-jobs"
    assert task_statuses(world, comp["_id"]) == {"queued"}
    assert depsgraph_jobs(world) == {render["_id"]}
    assert set_status(world, comp, "cancel-requested").status_code == 204
    assert job(world, comp["_id"])["status"] == "canceled"
    assert set_status(world, comp, "requeued").status_code == 204
    assert job(world, comp["_id"])["status"] == "waiting-for-jobs"


def test_requeueing_a_completed_dependency_leaves_a_dependent_that_ran_alone(world):
    render = submit(world, "render-A")
    comp = submit(world, "comp", depends_on=[render["_id"]])
    finish_tasks(world, render["_id"])
    finish_tasks(world, comp["_id"])
    assert job(world, comp["_id"])["status"] == "completed"
    set_status(world, render, "requeued")
    assert job(world, comp["_id"])["status"] == "completed"
    set_status(world, comp, "requeued")  # run again: wait for the render again
    assert job(world, comp["_id"])["status"] == "waiting-for-jobs"


def test_start_paused_dependent_stays_paused_and_waits_when_queued(world):
    render = submit(world, "render-A")
    comp = submit(world, "comp", depends_on=[render["_id"]], start_paused=True)
    assert comp["status"] == "paused"
    set_status(world, comp, "queued")
    assert job(world, comp["_id"])["status"] == "waiting-for-jobs"
    finish_tasks(world, render["_id"])
    assert job(world, comp["_id"])["status"] == "queued"
    assert task_statuses(world, comp["_id"]) == {"queued"}


def test_set_dependencies_refuses_cycles_naming_them(world):
    render = submit(world, "render-A", start_paused=True)
    comp = submit(world, "comp", depends_on=[render["_id"]])
    video = submit(world, "video", depends_on=[comp["_id"]])
    resp = world.api("alice").patch(f"{JOBS}/{render['_id']}", json={"op": "set-dependencies",
                                                                     "depends_on": [str(video["_id"])]})
    assert resp.status_code == 409
    cycle = resp.get_json()["_issues"]["depends_on"]
    assert cycle == (f"would create a cycle: 'render-A' ({render['_id']}) -> 'video' ({video['_id']}) -> "
                     f"'comp' ({comp['_id']}) -> 'render-A' ({render['_id']})")
    resp = world.api("alice").patch(f"{JOBS}/{render['_id']}", json={"op": "set-dependencies",
                                                                     "depends_on": [str(render["_id"])]})
    assert resp.status_code == 409 and "cycle" in resp.get_json()["_issues"]["depends_on"]
    assert job(world, render["_id"]).get("depends_on") is None


def test_set_dependencies_of_a_waiting_job_releases_it_when_nothing_is_left(world):
    render = submit(world, "render-A")
    bake = submit(world, "bake-B")
    comp = submit(world, "comp", depends_on=[render["_id"]])
    url = f"{JOBS}/{comp['_id']}"
    resp = world.api("alice").patch(url, json={"op": "set-dependencies", "depends_on": [str(bake["_id"])]})
    assert resp.status_code == 204
    assert job(world, comp["_id"])["status_reason"] == "Waiting for 1 job: 'bake-B' (queued)"
    resp = world.api("alice").patch(url, json={"op": "set-dependencies", "depends_on": "bake-B"})
    assert resp.status_code == 422 and "depends_on" in resp.get_json()["_issues"]
    assert world.api("vera").patch(url, json={"op": "set-dependencies", "depends_on": []}).status_code == 403
    resp = world.api("alice").patch(url, json={"op": "set-dependencies", "depends_on": []})
    assert resp.status_code == 204
    assert job(world, comp["_id"])["status"] == "queued"
    resp = world.api("alice").patch(url, json={"op": "set-dependencies", "depends_on": [str(bake["_id"])]})
    assert resp.status_code == 409 and "status" in resp.get_json()["_issues"]


def test_an_awaited_job_cannot_be_deleted_or_archived_until_it_completed(world):
    render = submit(world, "render-A", start_paused=True)
    comp = submit(world, "comp", depends_on=[render["_id"]])
    resp = world.api("alice").delete(f"{JOBS}/{render['_id']}", headers={"If-Match": render["_etag"]})
    assert resp.status_code == 409
    assert "'comp'" in resp.get_json()["_issues"]["depends_on"]
    resp = world.api("alice").patch(f"{JOBS}/{render['_id']}", json={"op": "archive-job"})
    assert resp.status_code == 409 and "depends_on" in resp.get_json()["_issues"]
    assert job(world, render["_id"])["status"] == "paused"
    set_status(world, render, "queued")
    finish_tasks(world, render["_id"])
    assert job(world, comp["_id"])["status"] == "queued"
    render = job(world, render["_id"])
    resp = world.api("alice").delete(f"{JOBS}/{render['_id']}", headers={"If-Match": render["_etag"]})
    assert resp.status_code == 204


def test_archived_completed_dependency_counts_as_completed(world):
    render = submit(world, "render-A")
    finish_tasks(world, render["_id"])
    world.db["flamenco_jobs"].update_one({"_id": render["_id"]},
                                         {"$set": {"status": "archived", "pre_archive_status": "completed"}})
    comp = submit(world, "comp", depends_on=[render["_id"]])
    assert comp["status"] == "queued"


def test_a_waiting_job_can_be_deleted_unless_others_wait_for_it(world):
    render = submit(world, "render-A")
    comp = submit(world, "comp", depends_on=[render["_id"]])
    video = submit(world, "video", depends_on=[comp["_id"]])
    resp = world.api("alice").delete(f"{JOBS}/{comp['_id']}", headers={"If-Match": comp["_etag"]})
    assert resp.status_code == 409 and "'video'" in resp.get_json()["_issues"]["depends_on"]
    resp = world.api("alice").delete(f"{JOBS}/{video['_id']}", headers={"If-Match": video["_etag"]})
    assert resp.status_code == 204
    assert world.db["flamenco_tasks"].count_documents({"job": video["_id"]}) == 0
