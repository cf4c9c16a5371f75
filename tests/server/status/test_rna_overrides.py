"""PATCH rna-overrides on existing jobs (reference §4.8, §3.7)."""
from __future__ import annotations

import pytest
from bson import ObjectId
from pymongo.database import Database

from flamenco import status
from flamenco.store.collections import JOBS, TASKS
from flamenco.job_compilers import JobSettingsError, RnaOverridesError
from flamenco.jobs import construction_runs, rna_overrides
from tests.server.status.test_construction_runs import insert_job
from tests.support.task_counts import force_tasks

RENDER = {"filepath": "/s/shot.blend", "render_output": "/render/out/######", "frames": "1-4", "chunk_size": 2}
PROGRESSIVE = {**RENDER, "blender_cmd": "{blender}", "format": "OPEN_EXR", "cycles_sample_count": 30,
               "cycles_sample_cap": 30, "fps": 24}
LINES = ["bpy.context.scene.render.resolution_percentage = 50"]


def constructed(db: Database, job_type: str, settings: dict) -> ObjectId:
    job_id = insert_job(db, settings, job_type=job_type)
    assert construction_runs.run_construction(db, job_id, reason="submitted").status == "queued"
    return job_id


def tasks_by_name(db: Database, job_id: ObjectId) -> dict[str, list[dict]]:
    result: dict[str, list[dict]] = {}
    for task in db[TASKS].find({"job": job_id}):
        result.setdefault(task["name"], []).append(task)
    return result


def test_new_overrides_task_guards_all_renders(mongo_db: Database) -> None:
    job_id = constructed(mongo_db, "blender-render", RENDER)
    change = rna_overrides.apply_rna_overrides(mongo_db, job_id, LINES)
    tasks = tasks_by_name(mongo_db, job_id)
    [overrides] = tasks["rna-overrides"]
    assert change.created and change.task_id == overrides["_id"] and change.repointed == 2
    assert (overrides["status"], overrides["priority"], overrides["task_type"]) == ("queued", 80, "file-management")
    assert "parents" not in overrides
    assert overrides["commands"][0]["settings"]["filepath"] == "/s/shot-overrides.py"
    for render in tasks["blender-render-1,2"] + tasks["blender-render-3,4"]:
        assert render["parents"] == [overrides["_id"]]
    assert mongo_db[JOBS].find_one({"_id": job_id})["settings"]["rna_overrides"] == LINES
    assert mongo_db[JOBS].find_one({"_id": job_id})["status"] == "queued"


def test_existing_overrides_task_is_rewritten_and_requeued(mongo_db: Database) -> None:
    job_id = constructed(mongo_db, "blender-render", {**RENDER, "rna_overrides": ["x = 1"]})
    [before] = tasks_by_name(mongo_db, job_id)["rna-overrides"]
    force_tasks(mongo_db, {"_id": before["_id"]}, {"status": "completed"})
    change = rna_overrides.apply_rna_overrides(mongo_db, job_id, LINES)
    [after] = tasks_by_name(mongo_db, job_id)["rna-overrides"]
    assert not change.created and change.task_id == before["_id"]
    assert after["status"] == "queued" and after["_etag"] != before["_etag"]
    assert after["commands"][0]["settings"]["contents"].endswith(LINES[0] + "\n")


def test_progressive_renders_are_repointed_from_destroy_task(mongo_db: Database) -> None:
    job_id = constructed(mongo_db, "blender-render-progressive", PROGRESSIVE)
    change = rna_overrides.apply_rna_overrides(mongo_db, job_id, LINES)
    tasks = tasks_by_name(mongo_db, job_id)
    [destroy] = tasks["destroy-preexisting-intermediate"]
    [overrides] = tasks["rna-overrides"]
    assert overrides["parents"] == [destroy["_id"]]
    renders = [t for name, group in tasks.items() if name.startswith("render-s_") for t in group]
    assert renders and all(t["parents"] == [overrides["_id"]] for t in renders)
    assert change.repointed == len(renders)
    previews = tasks["create-preview-images"]
    assert all(overrides["_id"] not in t["parents"] for t in previews)


def test_non_blender_job_has_no_overrides(mongo_db: Database) -> None:
    job_id = insert_job(mongo_db, {"frames": "1", "chunk_size": 1, "time_in_seconds": 1})
    with pytest.raises(JobSettingsError) as info:
        rna_overrides.apply_rna_overrides(mongo_db, job_id, LINES)
    assert info.value.field == "job_type"


def test_syntax_error_names_the_line(mongo_db: Database) -> None:
    job_id = constructed(mongo_db, "blender-render", RENDER)
    with pytest.raises(RnaOverridesError) as info:
        rna_overrides.apply_rna_overrides(mongo_db, job_id, ["x = 1", "y = (", "z = 3"])
    assert info.value.field == "rna_overrides"
    assert info.value.line_num == 2
    assert "in line 'y = ('" in info.value.reason
    assert "rna-overrides" not in tasks_by_name(mongo_db, job_id)


@pytest.mark.parametrize("lines", ["x = 1", [1, 2], None])
def test_lines_must_be_a_list_of_strings(mongo_db: Database, lines) -> None:
    job_id = constructed(mongo_db, "blender-render", RENDER)
    with pytest.raises(JobSettingsError, match="list of strings"):
        rna_overrides.apply_rna_overrides(mongo_db, job_id, lines)


def test_null_byte_is_reported_without_line(mongo_db: Database) -> None:
    job_id = constructed(mongo_db, "blender-render", RENDER)
    with pytest.raises(RnaOverridesError) as info:
        rna_overrides.apply_rna_overrides(mongo_db, job_id, ["x = '\0'"])
    assert info.value.line_num == 0


@pytest.mark.parametrize("job_status", ["under-construction", "archiving", "archived"])
def test_refused_while_the_tasks_are_built_or_archived(mongo_db: Database, job_status: str) -> None:
    job_id = insert_job(mongo_db, RENDER, job_type="blender-render", job_status=job_status)
    with pytest.raises(status.IllegalTransition) as info:
        rna_overrides.apply_rna_overrides(mongo_db, job_id, LINES)
    assert info.value.field == "status" and job_status in info.value.reason
    assert "rna_overrides" not in mongo_db[JOBS].find_one({"_id": job_id})["settings"]
    assert mongo_db[TASKS].count_documents({"job": job_id}) == 0


@pytest.mark.parametrize("job_status", ["waiting-for-files", "construction-failed"])
def test_job_without_tasks_only_stores_the_lines(mongo_db: Database, job_status: str) -> None:
    """Its compile makes the task; one made now would be duplicated by it."""
    job_id = insert_job(mongo_db, RENDER, job_type="blender-render", job_status=job_status)
    change = rna_overrides.apply_rna_overrides(mongo_db, job_id, LINES)
    assert change.task_id is None and not change.created
    assert mongo_db[JOBS].find_one({"_id": job_id})["settings"]["rna_overrides"] == LINES
    assert mongo_db[TASKS].count_documents({"job": job_id}) == 0


@pytest.mark.parametrize("task_status", ["claimed-by-manager", "active"])
def test_running_overrides_task_is_not_handed_out_twice(mongo_db: Database, task_status: str) -> None:
    job_id = constructed(mongo_db, "blender-render", {**RENDER, "rna_overrides": ["x = 1"]})
    force_tasks(mongo_db, {"job": job_id, "name": "rna-overrides"}, {"status": task_status})
    with pytest.raises(status.IllegalTransition, match="rna-overrides task is running"):
        rna_overrides.apply_rna_overrides(mongo_db, job_id, LINES)
    [task] = tasks_by_name(mongo_db, job_id)["rna-overrides"]
    assert task["status"] == task_status
    assert mongo_db[JOBS].find_one({"_id": job_id})["settings"]["rna_overrides"] == ["x = 1"]
