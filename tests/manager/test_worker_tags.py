"""Worker tags and resources on the Manager (issue 15): registration, sign-on, the scheduler's match.

A real Manager (its engine, store on FerretDB, HTTP on a real port); the
worker side is the real worker's registration code, or the Flamenco 2-style
test worker for an unmodified worker that sends neither tags nor resources.
"""
from __future__ import annotations

from pathlib import Path

from bson import ObjectId

from flamenco_manager import notifications, tasks, worker_actions
from flamenco_manager.context import ManagerContext
from flamenco_manager.taskqueue import TaskQueue
from flamenco_worker.config import WorkerConfig
from flamenco_worker.registration import register_and_sign_on
from flamenco_worker.upstream import ManagerClient
from tests.manager.support import TestWorker, server_task
from tests.worker.conftest import FAST_TIMINGS, run

GPU_JOB = {"tags": ["gpu"]}
BIG_RAM_JOB = {"min_ram_gb": 100_000}


def worker_doc(ctx: ManagerContext, worker_id: str) -> dict:
    return ctx.engine.call(lambda: dict(ctx.state.workers[ObjectId(worker_id)]))


def store(ctx: ManagerContext, *docs: dict) -> None:
    ctx.engine.call(lambda: tasks.store_downloaded(ctx, list(docs)))


def with_requirements(required: dict, **kwargs) -> dict:
    return {**server_task(**kwargs), "requirements": required}


def claimed_ids(worker: TestWorker, limit: int = 10) -> list[str]:
    """Ask for tasks until a 204; complete each one so the next can come."""
    ids = []
    for _ in range(limit):
        resp = worker.get_task()
        if resp.status_code == 204:
            return ids
        assert resp.status_code == 200, resp.text
        ids.append(resp.json()["_id"])
        assert worker.update(ids[-1], task_status="completed").status_code == 204
    raise AssertionError("more tasks than expected")


def test_real_worker_registers_and_signs_on_with_its_tags_and_resources(ctx, manager_url, tmp_path: Path):
    config = WorkerConfig(manager_url=manager_url, nickname="gpu-box", task_types=("sleep",), tags=("gpu", "room-b"),
                          task_update_queue_db=tmp_path / "queue.db", credentials_file=tmp_path / "cred.cfg",
                          **FAST_TIMINGS)

    async def register() -> WorkerConfig:
        client = ManagerClient(manager_url, timeout=5)
        try:
            return await register_and_sign_on(client, config)
        finally:
            await client.aclose()

    registered = run(register())
    doc = worker_doc(ctx, registered.worker_id)
    assert doc["tags"] == ["gpu", "room-b"]
    assert doc["admin_tags"] is None
    assert doc["resources"]["cpu_cores"] >= 1 and doc["resources"]["ram_bytes"] > 0
    assert doc["resources"]["gpus"] == [], "no nvidia-smi on this machine"
    reported = ctx.engine.call(lambda: notifications.worker_report(ctx))
    assert reported[0]["tags"] == ["gpu", "room-b"] and reported[0]["tags_set_by_admin"] is False
    assert reported[0]["resources"] == doc["resources"]


def test_bad_tags_or_resources_are_a_400_naming_the_field(new_worker, manager_url):
    worker = TestWorker(manager_url)
    resp = worker.session.post(worker.url("/register-worker"), json={
        "secret": worker.secret, "platform": "linux", "supported_task_types": ["sleep"], "tags": ["gpu", "no spaces"]})
    assert resp.status_code == 400 and resp.json()["_issues"] == {"tags[1]": resp.json()["_error"]["message"]}
    signed_on = new_worker()
    resp = signed_on.sign_on(resources={"cpu_cores": "many", "ram_bytes": 1})
    assert resp.status_code == 400 and "resources.cpu_cores" in resp.json()["_issues"]


def test_task_with_a_tag_goes_only_to_a_worker_with_that_tag(ctx, new_worker):
    tagged_task, plain_task = with_requirements(GPU_JOB, priority=90), server_task(priority=10)
    store(ctx, tagged_task, plain_task)
    flamenco2 = new_worker(nickname="old")  # sends no tags, no resources
    assert claimed_ids(flamenco2) == [plain_task["_id"]], "a Flamenco 2 worker still gets the job without requirements"
    assert flamenco2.get_task().status_code == 204, "...and a 204 while the tagged task waits"
    assert ObjectId(tagged_task["_id"]) in ctx.state.queue

    gpu = new_worker(nickname="gpu")
    assert gpu.sign_on(tags=["GPU"]).status_code == 204
    assert claimed_ids(gpu) == [tagged_task["_id"]]


def test_unknown_resources_meet_no_minimum_and_detected_ones_do(ctx, new_worker):
    needs_ram = with_requirements({"min_ram_gb": 8})
    store(ctx, needs_ram)
    flamenco2 = new_worker(nickname="old")
    assert flamenco2.get_task().status_code == 204
    small = new_worker(nickname="small")
    assert small.sign_on(resources={"cpu_cores": 4, "ram_bytes": 4 * 10 ** 9, "gpus": []}).status_code == 204
    assert small.get_task().status_code == 204
    big = new_worker(nickname="big")
    assert big.sign_on(resources={"cpu_cores": 4, "ram_bytes": 16 * 10 ** 9, "gpus": []}).status_code == 204
    assert claimed_ids(big) == [needs_ram["_id"]]


def test_admin_tags_replace_the_workers_own_and_survive_sign_on(ctx, new_worker):
    store(ctx, with_requirements(GPU_JOB))
    worker = new_worker(nickname="render-3")
    assert worker.sign_on(tags=["cpu-only"]).status_code == 204
    assert worker.get_task().status_code == 204
    action = {"_id": str(ObjectId()), "worker": worker.worker_id, "action": "set-tags", "tags": ["gpu"]}
    assert ctx.engine.call(lambda: worker_actions.apply_from_server(ctx, [action])) == 1
    assert worker.sign_on(tags=["cpu-only"]).status_code == 204, "the worker restarts with its own config"
    assert worker_doc(ctx, worker.worker_id)["admin_tags"] == ["gpu"]
    assert len(claimed_ids(worker)) == 1
    clear = {**action, "_id": str(ObjectId()), "tags": None}
    ctx.engine.call(lambda: worker_actions.apply_from_server(ctx, [clear]))
    doc = worker_doc(ctx, worker.worker_id)
    assert doc["admin_tags"] is None and doc["tags"] == ["cpu-only"]


def test_queue_asks_once_per_requirement_set_and_drops_empty_heaps():
    queue, asked = TaskQueue(), []
    docs = [{"_id": ObjectId(), "task_type": "sleep", "requirements": GPU_JOB} for _ in range(50)]
    docs.append({"_id": ObjectId(), "task_type": "sleep", "requirements": BIG_RAM_JOB})
    for doc in docs:
        queue.add(doc)

    def meets(required: dict) -> bool:
        asked.append(required)
        return required == GPU_JOB

    assert queue.pop_best(["sleep"], lambda _id: True, meets) == docs[0]["_id"]
    assert sorted(map(str, asked)) == sorted(map(str, [GPU_JOB, BIG_RAM_JOB])), "one question per heap, not per task"
    queue.discard(docs[-1]["_id"])
    asked.clear()
    queue.pop_best(["sleep"], lambda _id: True, meets)
    assert asked == [GPU_JOB], "the emptied heap is gone"
