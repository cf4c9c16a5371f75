"""FlamencoClient against a real server process on the test FerretDB."""
from __future__ import annotations

from pathlib import Path

import pytest

from flamenco.client import (AuthenticationError, BlenderRenderJob, FlamencoClient, InvalidInput,
                             PermissionDenied, RequestRejected, ServerUnreachable)
from flamenco.farm.services import free_port
from tests.client.support import Account, Site, make_account


def render_job(blend_file: Path, **kwargs) -> BlenderRenderJob:
    values = {"filepath": str(blend_file), "frames": "1-12", "chunk_size": 4,
              "render_output": str(blend_file.parent / "render" / "frames-######")}
    values.update(kwargs)
    return BlenderRenderJob(**values)


def test_submit_blender_render_stores_the_job_for_the_caller(client: FlamencoClient, account: Account,
                                                             blend_file: Path) -> None:
    target = client.resolve_target()
    job = client.submit_blender_render(render_job(blend_file, create_video=True, fps=25, priority=60), target)

    stored = client.get_job(job["_id"])
    assert stored["job_type"] == "blender-render"
    assert stored["name"] == "shot"
    assert stored["project"] == str(account.project["_id"])
    assert stored["manager"] == str(account.manager["_id"])
    assert stored["user"] == str(account.user["_id"])
    assert stored["priority"] == 60
    assert stored["settings"]["filepath"] == str(blend_file)
    assert stored["settings"]["frames"] == "1-12"
    assert stored["settings"]["chunk_size"] == 4
    assert stored["settings"]["render_output"] == str(blend_file.parent / "render" / "frames-######")
    assert stored["settings"]["format"] == "PNG"
    assert stored["settings"]["fps"] == 25
    assert stored["status"] == "queued"


def test_submitted_job_is_compiled_into_tasks(client: FlamencoClient, blend_file: Path) -> None:
    job = client.submit_blender_render(render_job(blend_file), client.resolve_target())
    summary = client.job_task_summary(job["_id"])
    # 12 frames in chunks of 4: three render tasks plus move-to-final, all queued.
    assert summary.total == 4
    assert summary.counts == {"queued": 4}
    assert summary.completed == 0


def test_only_project_and_manager_are_chosen_automatically(client: FlamencoClient, account: Account) -> None:
    target = client.resolve_target()
    assert (target.project_id, target.manager_id) == (str(account.project["_id"]), str(account.manager["_id"]))
    assert target.project_name == account.project["name"]
    by_name = client.resolve_target(account.project["url"], account.manager["name"])
    assert by_name == target


def test_several_projects_need_a_choice(site: Site) -> None:
    account = make_account(site.db, projects=2)
    with FlamencoClient(site.url, account.token) as client:
        with pytest.raises(InvalidInput) as info:
            client.resolve_target()
        assert info.value.field == "project"
        for project in account.projects:
            assert project["name"] in info.value.reason and str(project["_id"]) in info.value.reason
        chosen = client.resolve_target(str(account.projects[1]["_id"]))
        assert chosen.manager_id == str(account.managers[1]["_id"])


def test_several_managers_need_a_choice(site: Site) -> None:
    account = make_account(site.db, managers_per_project=2)
    with FlamencoClient(site.url, account.token) as client:
        with pytest.raises(InvalidInput, match="several managers of project") as info:
            client.resolve_target()
        assert info.value.field == "manager"
        assert client.resolve_target(manager=account.managers[1]["name"]).manager_id == str(account.managers[1]["_id"])


def test_someone_elses_project_is_unknown(client: FlamencoClient, site: Site) -> None:
    other = make_account(site.db)
    with pytest.raises(InvalidInput, match=r"no project '[0-9a-f]{24}' is available to you; choose one of"):
        client.resolve_target(str(other.project["_id"]))


def test_list_jobs_pages_and_filters(client: FlamencoClient, site: Site, blend_file: Path) -> None:
    target = client.resolve_target()
    ids = [client.submit_blender_render(render_job(blend_file, name=f"job {i}", start_paused=(i == 0)),
                                        target)["_id"] for i in range(3)]
    other = make_account(site.db)
    with FlamencoClient(site.url, other.token) as other_client:
        other_client.submit_blender_render(render_job(blend_file, name="not yours"), other_client.resolve_target())

    first = client.list_jobs(max_results=2)
    second = client.list_jobs(max_results=2, page=2)
    assert [j["_id"] for j in first.items + second.items] == ids[::-1]  # newest first
    assert len(first.items) == 2 and len(second.items) == 1
    paused = client.list_jobs(where={"status": "paused"})
    assert [j["_id"] for j in paused.items] == [ids[0]]
    by_name = client.list_jobs(sort="name")
    assert [j["name"] for j in by_name.items] == ["job 0", "job 1", "job 2"]


def test_cancel_then_requeue(client: FlamencoClient, blend_file: Path) -> None:
    job = client.submit_blender_render(render_job(blend_file), client.resolve_target())
    canceled = client.cancel_job(job["_id"])
    # Nothing was running, so no Manager has to confirm: canceled at once (reference §3.4).
    assert canceled["status"] == "canceled"
    assert client.job_task_summary(job["_id"]).counts == {"canceled": 4}
    assert client.wait_for_job(job["_id"], interval=0.1, timeout=30).job["status"] == "canceled"

    op, requeued = client.requeue_job(job["_id"])
    assert op == "set-job-status requeued"
    assert requeued["status"] == "queued"
    assert client.job_task_summary(job["_id"]).counts == {"queued": 4}


def test_requeue_of_a_queued_job_requeues_failed_tasks(client: FlamencoClient, blend_file: Path) -> None:
    job = client.submit_blender_render(render_job(blend_file), client.resolve_target())
    op, after = client.requeue_job(job["_id"])
    assert op == "requeue-failed-tasks"
    assert after["status"] == "queued"


def test_watch_stops_at_a_final_status(client: FlamencoClient, blend_file: Path) -> None:
    job = client.submit_blender_render(render_job(blend_file, start_paused=True), client.resolve_target())
    seen = list(client.watch_job(job["_id"], interval=0.1, timeout=30))
    assert len(seen) == 1 and seen[0].finished
    assert seen[0].job["status"] == "paused"
    assert seen[0].tasks.total == 4


def test_watch_times_out_on_a_job_that_does_not_move(client: FlamencoClient, blend_file: Path) -> None:
    job = client.submit_blender_render(render_job(blend_file), client.resolve_target())
    with pytest.raises(TimeoutError, match="still queued"):
        client.wait_for_job(job["_id"], interval=0.05, timeout=0.2)


def test_server_validation_errors_name_the_field(client: FlamencoClient, account: Account) -> None:
    doc = {"name": "bad", "job_type": "blender-render", "project": str(account.project["_id"]),
           "manager": str(account.manager["_id"]),
           "settings": {"filepath": "/shared/shot.blend", "frames": "1-12", "chunk_size": 4}}
    with pytest.raises(RequestRejected) as info:
        client.submit_job(doc)
    assert 400 <= info.value.status_code < 500
    assert "render_output" in str(info.value)


@pytest.mark.parametrize("setting, value, reason", [
    ("frames", "1-1000000000", "has 1000000000 frames; a job may have at most 1000000"),
    ("frames", "12-1", "ends before it starts"),
    ("render_output", "render/shot/frames-####", "must be an absolute path"),
    ("render_output", "/render/shot/frames", "must have '#' where the frame number goes"),
])
def test_server_refuses_what_the_client_refuses(client: FlamencoClient, account: Account, setting: str, value: str,
                                                reason: str) -> None:
    """Issue 14 #2 and #5: the same input posted straight to the server is a 4xx naming the setting."""
    settings = {"filepath": "/shared/shot.blend", "frames": "1-12", "chunk_size": 4,
                "render_output": "/render/shot/frames-####", setting: value}
    doc = {"name": "bad", "job_type": "blender-render", "project": str(account.project["_id"]),
           "manager": str(account.manager["_id"]), "settings": settings}
    with pytest.raises(RequestRejected) as info:
        client.submit_job(doc)
    assert info.value.status_code == 422
    assert reason in info.value.issues[f"settings.{setting}"]
    assert client.list_jobs().items == []


def test_unknown_job_type_is_a_clear_4xx(client: FlamencoClient, account: Account) -> None:
    doc = {"name": "bad", "job_type": "no-such-type", "project": str(account.project["_id"]),
           "manager": str(account.manager["_id"]), "settings": {}}
    with pytest.raises(RequestRejected, match="no-such-type"):
        client.submit_job(doc)


def test_viewer_may_not_submit(site: Site, blend_file: Path) -> None:
    viewer = make_account(site.db, role="viewer")
    with FlamencoClient(site.url, viewer.token) as client:
        with pytest.raises(PermissionDenied) as info:
            client.submit_blender_render(render_job(blend_file), client.resolve_target())
    assert info.value.status_code == 403
    assert str(info.value).startswith("HTTP 403: ")


def test_bad_token_is_an_authentication_error(site: Site) -> None:
    with FlamencoClient(site.url, "not-a-token") as client:
        with pytest.raises(AuthenticationError) as info:
            client.list_jobs()
    assert info.value.status_code == 401
    assert "token" in str(info.value)


def test_bad_job_id_is_rejected_before_sending(client: FlamencoClient) -> None:
    with pytest.raises(InvalidInput, match="'nope' is not a valid id"):
        client.get_job("nope")


def test_unreachable_server_is_reported_as_such() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with FlamencoClient(url, "token") as client:
        with pytest.raises(ServerUnreachable, match=f"cannot connect to the Flamenco server at {url}"):
            client.list_jobs()
