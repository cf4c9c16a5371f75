"""Only callers with ``flamenco-run-programs`` choose what render nodes run (issue 13, severe 2).

A plain project member could submit ``exec-command`` jobs, a ``blender_cmd``
such as ``/bin/sh -c id``, another ``ffmpeg_cmd`` or Python in
``rna_overrides``, and so run anything on the nodes. Now each is a 403 naming
the field, on job POST and on the PATCH operations that change or recompile
settings; role ``flamenco-programmer`` and global admins may still.
"""
from __future__ import annotations

import pytest

from flamenco.auth import roles
from flamenco.jobs import program_gate
from tests.security.server_world import World, world  # noqa: F401
from tests.support.server import job_doc, make_job, make_token, make_user

JOBS = "/api/flamenco/jobs"
RENDER_SETTINGS = {"filepath": "/shots/shot.blend", "render_output": "/render/shot/######", "frames": "1-4",
                   "chunk_size": 2}
SHELL = "/bin/sh -c id"
PYTHON = ["import os; os.system('id')"]

# (job type, extra settings, the field the 403 names)
REFUSED_SUBMISSIONS = {
    "exec-command job": ("exec-command", {"cmd": "cat /etc/passwd"}, "job_type"),
    "blender_cmd": ("blender-render", {"blender_cmd": SHELL}, "settings.blender_cmd"),
    "ffmpeg_cmd": ("blender-render", {"ffmpeg_cmd": "/usr/bin/env sh -c id"}, "settings.ffmpeg_cmd"),
    "rna_overrides": ("blender-render", {"rna_overrides": PYTHON}, "settings.rna_overrides"),
}


def _settings(job_type: str, extra: dict) -> dict:
    return extra if job_type == "exec-command" else {**RENDER_SETTINGS, **extra}


def _add_programmer(world: World) -> None:
    """A project member with role ``flamenco-programmer`` (and token ``programmer``)."""
    user = make_user(world.db, "programmer", roles=(roles.ROLE_PROGRAMMER,))
    world.db["projects"].update_one({"_id": world.project["_id"]},
                                    {"$push": {"members": {"user": user["_id"], "role": "member"}}})
    world.tokens["programmer"] = make_token(world.db, user)


def _user_id(world: World, who: str):
    if who == "admin":
        return world.admin["_id"]
    return world.db["users"].find_one({"username": who})["_id"]


def _post(world: World, who: str, job_type: str, settings: dict, **extra):
    doc = job_doc(world.project, world.manager, _user_id(world, who), job_type=job_type, settings=settings,
                  name="gated", **extra)
    return world.call(who, "POST", JOBS, json=doc)


def _forbidden(resp, field: str) -> None:
    assert resp.status_code == 403, (resp.status_code, resp.get_json())
    body = resp.get_json()
    assert field in body["_issues"], body
    assert roles.CAP_RUN_PROGRAMS in body["_issues"][field]


def _render_job(world: World, **settings) -> dict:
    """A compiled blender-render job of the member's, all tasks completed."""
    job = make_job(world.db, world.project, world.manager, world.member, job_type="blender-render",
                   settings={**RENDER_SETTINGS, **settings})
    world.db["flamenco_tasks"].update_many({"job": job["_id"]}, {"$set": {"status": "completed"}})
    world.db["flamenco_jobs"].update_one({"_id": job["_id"]}, {"$set": {"status": "completed"}})
    return world.db["flamenco_jobs"].find_one({"_id": job["_id"]})


# --- job POST -------------------------------------------------------------------------------

@pytest.mark.parametrize("case", list(REFUSED_SUBMISSIONS))
def test_a_plain_member_may_not_submit_programs(world: World, case: str) -> None:
    job_type, extra, field = REFUSED_SUBMISSIONS[case]
    _forbidden(_post(world, "member", job_type, _settings(job_type, extra)), field)
    assert world.db["flamenco_jobs"].count_documents({"name": "gated"}) == 0


def test_a_refusal_names_every_offending_field(world: World) -> None:
    settings = {**RENDER_SETTINGS, "blender_cmd": SHELL, "rna_overrides": PYTHON}
    resp = _post(world, "member", "blender-render", settings)
    assert resp.status_code == 403
    assert {"settings.blender_cmd", "settings.rna_overrides"} <= set(resp.get_json()["_issues"])


def test_a_waiting_for_files_job_is_checked_too(world: World) -> None:
    resp = _post(world, "member", "blender-render", {**RENDER_SETTINGS, "blender_cmd": SHELL},
                 status="waiting-for-files")
    _forbidden(resp, "settings.blender_cmd")


@pytest.mark.parametrize("who", ["programmer", "admin"])
@pytest.mark.parametrize("case", list(REFUSED_SUBMISSIONS))
def test_programmers_and_admins_may_submit_programs(world: World, who: str, case: str) -> None:
    _add_programmer(world)
    job_type, extra, _field = REFUSED_SUBMISSIONS[case]
    resp = _post(world, who, job_type, _settings(job_type, extra))
    assert resp.status_code == 201, resp.get_json()
    job = world.db["flamenco_jobs"].find_one({"name": "gated"})
    assert job["status"] == "queued", job.get("status_reason")


@pytest.mark.parametrize("extra", [
    {},
    {"blender_cmd": "{blender}", "ffmpeg_cmd": "{ffmpeg}", "rna_overrides": []},
    {"blender_cmd": None},
])
def test_a_plain_member_still_renders_with_the_default_settings(world: World, extra: dict) -> None:
    resp = _post(world, "member", "blender-render", {**RENDER_SETTINGS, **extra})
    assert resp.status_code == 201, resp.get_json()
    job = world.db["flamenco_jobs"].find_one({"name": "gated"})
    assert job["status"] == "queued", job.get("status_reason")
    tasks = list(world.db["flamenco_tasks"].find({"job": job["_id"]}))
    executables = {c["settings"]["blender_cmd"] for t in tasks for c in t["commands"] if "blender_cmd" in c["settings"]}
    assert executables == {"{blender}"}


def test_a_plain_member_still_submits_sleep_jobs(world: World) -> None:
    assert _post(world, "member", "sleep", {"frames": "1-4", "chunk_size": 2, "time_in_seconds": 1}).status_code == 201


# --- PATCH operations -----------------------------------------------------------------------

def test_rna_overrides_patch_needs_the_capability(world: World) -> None:
    job = _render_job(world)
    resp = world.call("member", "PATCH", f"{JOBS}/{job['_id']}", json={"op": "rna-overrides", "rna_overrides": PYTHON})
    _forbidden(resp, "rna_overrides")
    assert "rna_overrides" not in world.db["flamenco_jobs"].find_one({"_id": job["_id"]})["settings"]
    assert world.db["flamenco_tasks"].count_documents({"job": job["_id"], "name": "rna-overrides"}) == 0


def test_a_plain_member_may_clear_rna_overrides(world: World) -> None:
    job = _render_job(world)
    resp = world.call("member", "PATCH", f"{JOBS}/{job['_id']}", json={"op": "rna-overrides", "rna_overrides": []})
    assert resp.status_code == 204, resp.get_json()


@pytest.mark.parametrize("who", ["programmer", "admin"])
def test_rna_overrides_patch_by_programmers_and_admins(world: World, who: str) -> None:
    _add_programmer(world)
    job = _render_job(world)
    resp = world.call(who, "PATCH", f"{JOBS}/{job['_id']}", json={"op": "rna-overrides", "rna_overrides": PYTHON})
    assert resp.status_code == 204, resp.get_json()
    assert world.db["flamenco_jobs"].find_one({"_id": job["_id"]})["settings"]["rna_overrides"] == PYTHON
    assert world.db["flamenco_tasks"].count_documents({"job": job["_id"], "name": "rna-overrides"}) == 1


def test_construct_with_new_program_settings_needs_the_capability(world: World) -> None:
    resp = _post(world, "member", "blender-render", {k: v for k, v in RENDER_SETTINGS.items() if k != "filepath"},
                 status="waiting-for-files")
    assert resp.status_code == 201, resp.get_json()
    job_id = resp.get_json()["_id"]
    body = {"op": "construct", "settings": {"filepath": "/shots/shot.blend", "blender_cmd": SHELL}}
    _forbidden(world.call("member", "PATCH", f"{JOBS}/{job_id}", json=body), "settings.blender_cmd")
    job = world.db["flamenco_jobs"].find_one({"name": "gated"})
    assert job["status"] == "waiting-for-files" and "blender_cmd" not in job["settings"]
    body["settings"]["blender_cmd"] = "{blender}"
    assert world.call("member", "PATCH", f"{JOBS}/{job_id}", json=body).status_code == 204


def test_recreating_a_job_that_runs_programs_needs_the_capability(world: World) -> None:
    """An admin's exec-command job in the member's project: the member may not run it again."""
    job = make_job(world.db, world.project, world.manager, world.admin, job_type="exec-command",
                   settings={"cmd": "echo hello"})
    world.db["flamenco_tasks"].update_many({"job": job["_id"]}, {"$set": {"status": "completed"}})
    world.db["flamenco_jobs"].update_one({"_id": job["_id"]}, {"$set": {"status": "completed"}})
    old_tasks = {t["_id"] for t in world.db["flamenco_tasks"].find({"job": job["_id"]})}
    _forbidden(world.call("member", "PATCH", f"{JOBS}/{job['_id']}", json={"op": "recreate"}), "job_type")
    assert {t["_id"] for t in world.db["flamenco_tasks"].find({"job": job["_id"]})} == old_tasks
    assert world.call("admin", "PATCH", f"{JOBS}/{job['_id']}", json={"op": "recreate"}).status_code == 204


def test_a_plain_member_may_recreate_an_ordinary_job(world: World) -> None:
    job = _render_job(world)
    assert world.call("member", "PATCH", f"{JOBS}/{job['_id']}", json={"op": "recreate"}).status_code == 204


# --- the rule itself ------------------------------------------------------------------------

@pytest.mark.parametrize("job,fields", [
    ({"job_type": "exec-command", "settings": {"cmd": "ls"}}, {"job_type"}),
    ({"job_type": "blender-render", "settings": {"blender_cmd": "{blender} --python evil.py"}},
     {"settings.blender_cmd"}),
    ({"job_type": "blender-render", "settings": {"blender_cmd": "{ffmpeg}"}}, {"settings.blender_cmd"}),
    ({"job_type": "blender-video-chunks", "settings": {"ffmpeg_cmd": "/bin/sh"}}, {"settings.ffmpeg_cmd"}),
    ({"job_type": "sleep", "settings": {"rna_overrides": [""]}}, {"settings.rna_overrides"}),
    ({"job_type": "blender-render", "settings": {"blender_cmd": "{blender}", "ffmpeg_cmd": "{ffmpeg}",
                                                 "rna_overrides": []}}, set()),
    ({"job_type": "blender-render", "settings": "not a dict"}, set()),
    ({"job_type": "sleep"}, set()),
])
def test_programs_in_job(job: dict, fields: set) -> None:
    assert set(program_gate.programs_in_job(job)) == fields


def test_roles_grant_the_capability_only_to_programmers_and_admins() -> None:
    assert roles.CAP_RUN_PROGRAMS in roles.capabilities_for([roles.ROLE_ADMIN])
    assert roles.CAP_RUN_PROGRAMS in roles.capabilities_for([roles.ROLE_PROGRAMMER])
    assert roles.capabilities_for([roles.ROLE_USER]) < roles.capabilities_for([roles.ROLE_PROGRAMMER])
    for role in (roles.ROLE_USER, roles.ROLE_VIEWER, roles.ROLE_FLAMENCO_ADMIN, roles.ROLE_METRICS):
        assert roles.CAP_RUN_PROGRAMS not in roles.capabilities_for([role])
