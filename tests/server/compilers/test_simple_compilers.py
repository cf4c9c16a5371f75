"""``sleep`` and ``exec-command`` (reference §4.3, §4.4), and the task document shape (§2.3)."""
from __future__ import annotations

import datetime

from bson import ObjectId

from flamenco.job_compilers import compile_job
from tests.server.compilers.conftest import make_job, summary


def test_sleep_tasks_per_chunk() -> None:
    job = make_job("sleep", {"frames": "1-13,27-30,40-44", "chunk_size": 13, "time_in_seconds": 3})
    tasks = compile_job(job)
    assert summary(tasks) == [("sleep-1-13", "sleep", 50, []), ("sleep-27-30,40-44", "sleep", 50, [])]
    assert tasks[0]["commands"] == [
        {"name": "echo", "settings": {"message": "Preparing to sleep"}},
        {"name": "sleep", "settings": {"time_in_seconds": 3}},
    ]


def test_task_documents_are_ready_for_insert_many() -> None:
    now = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    job = make_job("sleep", {"frames": "1-4", "chunk_size": 2, "time_in_seconds": 1})
    tasks = compile_job(job, now=now)
    ids = [task["_id"] for task in tasks]
    assert all(isinstance(task_id, ObjectId) for task_id in ids) and len(set(ids)) == 2
    assert len({task["_etag"] for task in tasks}) == 2
    for task in tasks:
        assert task["job"] == job["_id"]
        assert (task["manager"], task["project"], task["user"]) == (job["manager"], job["project"], job["user"])
        assert task["status"] == "under-construction"
        assert task["job_priority"] == 60
        assert task["job_type"] == "sleep"
        assert task["_created"] == task["_updated"] == now
        assert "parents" not in task   # only present when non-empty


def test_exec_command_normalises_quoting() -> None:
    tasks = compile_job(make_job("exec-command", {"cmd": "echo \"hello world\"  'it''s'"}))
    assert summary(tasks) == [("exec-command", "debug", 50, [])]
    assert tasks[0]["commands"] == [{"name": "exec", "settings": {"cmd": "echo 'hello world' its"}}]


def test_hundred_thousand_frames_compile_to_one_task_per_chunk() -> None:
    """Bulk path used for big jobs; its speed is measured in the report, not asserted here."""
    job = make_job("blender-render", {"filepath": "/s/shot.blend", "render_output": "/render/out/######",
                                      "frames": "1-100000", "chunk_size": 1})
    tasks = compile_job(job)
    assert len(tasks) == 100_001
    assert tasks[99_999]["name"] == "blender-render-100000"
    assert len(tasks[-1]["parents"]) == 100_000
    assert len({task["_id"] for task in tasks}) == 100_001
