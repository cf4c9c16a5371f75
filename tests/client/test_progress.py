"""Following jobs that make progress: the test plays the Manager through flamenco.status,
the same rules the server applies to a Manager's task updates."""
from __future__ import annotations

import threading
from pathlib import Path

from bson import ObjectId
from click.testing import CliRunner
from pymongo.database import Database

from flamenco import status
from flamenco.client import BlenderRenderJob, FlamencoClient
from tests.client.support import Account, Site
from tests.client.test_cli import cli


def submit(client: FlamencoClient, blend_file: Path, frames: str, chunk_size: int) -> str:
    job = BlenderRenderJob(filepath=str(blend_file), frames=frames, chunk_size=chunk_size,
                           render_output=str(blend_file.parent / "out" / "frames-######"))
    return client.submit_blender_render(job, client.resolve_target())["_id"]


def task_ids(db: Database, job_id: str) -> list[ObjectId]:
    """The job's tasks in creation order (render chunks, then move-to-final)."""
    return [t["_id"] for t in db["flamenco_tasks"].find({"job": ObjectId(job_id)}, {"_id": 1}).sort("_id", 1)]


def report(db: Database, task_id: ObjectId, new_status: str) -> None:
    status.set_task_status(db, task_id, new_status, actor=status.Actor.MANAGER)


def run_tasks(db: Database, manager_id: ObjectId, tasks: list[ObjectId], final: dict[ObjectId, str]) -> None:
    """Claim the tasks, run them, and report each one's final status (default completed)."""
    status.mark_tasks_claimed(db, manager_id, tasks)
    for task_id in tasks:
        report(db, task_id, "active")
        report(db, task_id, final.get(task_id, "completed"))


def test_watch_follows_a_job_to_completion(site: Site, account: Account, client: FlamencoClient,
                                          blend_file: Path) -> None:
    job_id = submit(client, blend_file, "1-12", 4)
    tasks = task_ids(site.db, job_id)
    worker = threading.Thread(target=run_tasks, args=(site.db, account.manager["_id"], tasks, {}))
    worker.start()
    try:
        result = CliRunner().invoke(cli, ["jobs", "watch", job_id, "--interval", "0.05", "--timeout", "120"],
                                    env={"FLAMENCO_SERVER": site.url, "FLAMENCO_TOKEN": account.token})
    finally:
        worker.join()
    assert result.exit_code == 0, result.output
    assert "4/4" in result.stderr
    assert result.stderr.rstrip().endswith(f"Job {job_id} completed")
    assert client.job_task_summary(job_id).counts == {"completed": 4}


def test_wait_reports_a_failed_job(site: Site, account: Account, client: FlamencoClient,
                                   blend_file: Path) -> None:
    job_id = submit(client, blend_file, "1-12", 4)
    tasks = task_ids(site.db, job_id)
    # One failed task of four is over the 10 % threshold: the job fails.
    run_tasks(site.db, account.manager["_id"], tasks[:1], {tasks[0]: "failed"})
    final = client.wait_for_job(job_id, interval=0.05, timeout=60)
    assert final.job["status"] == "failed"
    assert "failed" in final.job.get("status_reason", "")

    op, job = client.requeue_job(job_id)
    assert op == "set-job-status requeued"
    assert job["status"] == "queued"
    assert client.job_task_summary(job_id).counts == {"queued": 4}


def test_requeue_of_an_active_job_requeues_only_its_failed_tasks(site: Site, account: Account,
                                                                  client: FlamencoClient, blend_file: Path) -> None:
    job_id = submit(client, blend_file, "1-12", 1)
    tasks = task_ids(site.db, job_id)
    assert len(tasks) == 13  # twelve frames, move-to-final
    # One failure in thirteen tasks stays under the 10 % threshold: the job goes on.
    run_tasks(site.db, account.manager["_id"], tasks[:2], {tasks[0]: "failed"})
    assert client.get_job(job_id)["status"] == "active"

    result = CliRunner().invoke(cli, ["jobs", "requeue", job_id],
                                env={"FLAMENCO_SERVER": site.url, "FLAMENCO_TOKEN": account.token})
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{job_id}: requeue-failed-tasks; now active"
    assert client.job_task_summary(job_id).counts == {"queued": 12, "completed": 1}
