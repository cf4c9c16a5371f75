"""Job requirements and worker tags on the server (issue 15): what a job POST, a Manager's worker report
and a set-tags action may say, the depsgraph that carries requirements to the Manager, and the
job page's check of which workers can run a job."""
from __future__ import annotations

import pytest
from bson import ObjectId

from flamenco.manager_api import depsgraph
from flamenco.workers import eligibility
from tests.server.conftest import World
from tests.server.test_workers_registry import action_url, notification, notify, push_batch, report_now, reported_worker
from tests.support.server import job_doc

JOBS = "/api/flamenco/jobs"
WORKSTATION = {"cpu_cores": 16, "ram_bytes": 64 * 10 ** 9, "gpus": []}


def submit(world: World, requirements: object):
    doc = job_doc(world.project_a, world.manager_a, world.alice, requirements=requirements)
    return world.api("alice").post(JOBS, json=doc)


@pytest.mark.parametrize("requirements,path", [
    ({"tags": ["gpu", "no spaces"]}, ("tags", 1)),
    ({"tags": "gpu"}, ("tags",)),
    ({"min_ram_gb": -4}, ("min_ram_gb",)),
    ({"min_cpu_cores": "lots"}, ("min_cpu_cores",)),
    ({"gpu": "yes"}, ("gpu",)),
    ({"min_gpu_memory_gb": 10 ** 6}, ("min_gpu_memory_gb",)),
    ({"ram": 32}, ("ram",)),
    ("gpu", ()),
])
def test_bad_requirements_are_a_422_naming_the_field(world: World, requirements: object, path: tuple):
    resp = submit(world, requirements)
    assert resp.status_code == 422, resp.text
    issue = resp.get_json()["_issues"]["requirements"]
    for key in path:  # Eve nests the issue as the field is nested: requirements -> tags -> 1
        issue = issue[str(key)] if isinstance(issue, dict) and str(key) in issue else issue[key]
    assert issue, resp.get_json()
    assert world.db["flamenco_jobs"].count_documents({}) == 0


def test_requirements_are_stored_normalised_and_travel_in_every_task_of_the_depsgraph(world: World):
    resp = submit(world, {"tags": [" GPU ", "gpu", "Room-B"], "min_ram_gb": 32, "gpu": False})
    assert resp.status_code == 201, resp.text
    job = world.db["flamenco_jobs"].find_one({"_id": ObjectId(resp.get_json()["_id"])})
    assert job["requirements"]["tags"] == ["gpu", "room-b"]
    plain = job_doc(world.project_a, world.manager_a, world.alice)
    assert world.api("alice").post(JOBS, json=plain).status_code == 201
    graph = depsgraph.pull_depsgraph(world.db, world.manager_a["_id"], None)
    by_job = {}
    for task in graph.tasks:
        by_job.setdefault(task["job"], []).append(task.get("requirements"))
    assert by_job.pop(job["_id"]) == [{"tags": ["gpu", "room-b"], "min_ram_gb": 32}] * 3
    assert list(by_job.values()) == [[None] * 3], "a job without requirements sends none"
    stored = world.db["flamenco_tasks"].find_one({"job": job["_id"]})
    assert "requirements" not in stored, "kept once, on the job"


def test_reported_tags_and_resources_are_listed_and_bad_ones_refused(world: World):
    worker = reported_worker(tags=["gpu"], own_tags=["cpu"], tags_set_by_admin=True, resources=WORKSTATION)
    report_now(world, "manager_a", [worker])
    [item] = world.api("alice").get("/api/flamenco/workers").get_json()["_items"]
    assert (item["tags"], item["own_tags"], item["tags_set_by_admin"]) == (["gpu"], ["cpu"], True)
    assert item["resources"] == WORKSTATION
    for field, bad in {"workers[0].tags[0]": {"tags": ["Has Space"]},
                       "workers[0].resources.cpu_cores": {"resources": {**WORKSTATION, "cpu_cores": -1}}}.items():
        resp = notify(world, "manager_a", notification(workers=[reported_worker(**bad)]))
        assert resp.status_code == 400 and field in resp.json["_issues"], (field, resp.json)


def test_set_tags_action_is_checked_and_handed_to_the_manager(world: World):
    worker = reported_worker()
    report_now(world, "manager_a", [worker])
    url = action_url(world, "manager_a", worker["_id"])
    for field, body in {"tags": {"action": "set-tags"}, "tags[0]": {"action": "set-tags", "tags": ["a b"]}}.items():
        resp = world.api("alice").post(url, json=body)
        assert resp.status_code == 400 and field in resp.json["_issues"], (field, resp.json)
    sleep_with_tags = world.api("alice").post(url, json={"action": "sleep", "tags": ["gpu"]})
    assert sleep_with_tags.status_code == 400 and "tags" in sleep_with_tags.json["_issues"]
    assert world.api("vera").post(url, json={"action": "set-tags", "tags": ["gpu"]}).status_code == 403
    assert world.api("alice").post(url, json={"action": "set-tags", "tags": ["GPU"]}).status_code == 201
    assert world.api("alice").post(url, json={"action": "set-tags", "tags": None}).status_code == 201
    handed_out = push_batch(world, "manager_a")["worker_actions"]
    assert [(a["action"], a["tags"]) for a in handed_out] == [("set-tags", ["gpu"]), ("set-tags", None)]


def test_job_view_says_when_no_worker_of_its_manager_can_run_it(world: World):
    job = {"_id": ObjectId(), "manager": world.manager_a["_id"], "status": "queued",
           "requirements": {"tags": ["gpu"], "min_ram_gb": 32}}
    report_now(world, "manager_a", [reported_worker(nickname="a", tags=["cpu"], resources=WORKSTATION),
                                    reported_worker(nickname="b")])
    view = eligibility.requirements_view(world.db, job)
    assert view.needs == ["tag 'gpu'", "32 GB RAM"]
    assert view.problem == ("No worker of manager Manager A can run this job: needs tag 'gpu' (2 workers, none "
                            "tagged 'gpu'); needs 32 GB RAM (1 of 2 workers)")
    report_now(world, "manager_a", [reported_worker(nickname="a", tags=["gpu"], resources=WORKSTATION)])
    view = eligibility.requirements_view(world.db, job)
    assert (view.problem, view.able_count, view.worker_count) == ("", 1, 1)
    assert eligibility.requirements_view(world.db, {**job, "requirements": {}}) is None
