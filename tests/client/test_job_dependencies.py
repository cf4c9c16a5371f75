"""`flamenco submit ... --after JOB` and the Python client's dependencies, against a real server process."""
from __future__ import annotations

from pathlib import Path

import pytest
from bson import ObjectId

from flamenco.client import FlamencoClient
from flamenco.client.errors import InvalidInput, RequestRejected
from flamenco.client.jobs import BlenderRenderJob
from tests.client.support import Account, Site, make_account
from tests.client.test_cli import run, submit, submit_offline


def submitted_id(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_after_makes_the_job_wait_and_says_for_what(site: Site, account: Account, blend_file: Path) -> None:
    render = submitted_id(submit(site, account, blend_file, "--name", "render-A"))
    bake = submitted_id(submit(site, account, blend_file, "--name", "bake-B"))
    result = submit(site, account, blend_file, "--name", "comp", "--after", render, "--after", bake,
                    "--on-dependency-failure", "wait")
    comp = submitted_id(result)
    assert "waiting-for-jobs (Waiting for 2 jobs: 'render-A' (queued), 'bake-B' (queued))" in result.stderr
    job = FlamencoClient(site.url, account.token).get_job(comp)
    assert job["status"] == "waiting-for-jobs"
    assert job["depends_on"] == [render, bake] and job["on_dependency_failure"] == "wait"
    shown = run(site, account, "jobs", "show", comp)
    assert f"after          {render}, {bake} (on failure: wait)" in shown.stdout


def test_after_takes_job_ids_only_and_says_so_before_connecting(blend_file: Path) -> None:
    result = submit_offline(blend_file, "--after", "render-A")
    assert result.exit_code == 2
    assert "Invalid value for '--after'" in result.output and "'render-A' is not a job id" in result.output


def test_server_refusals_are_one_clear_message(site: Site, account: Account, blend_file: Path) -> None:
    unknown = str(ObjectId())
    result = submit(site, account, blend_file, "--after", unknown)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"Error: HTTP 422: invalid dependencies: depends_on: there is no job {unknown}" in result.stderr
    other = make_account(site.db)
    foreign = submitted_id(submit(site, other, blend_file, "--name", "theirs"))
    result = submit(site, account, blend_file, "--after", foreign)
    assert result.exit_code == 1 and "not in this job's project" in result.stderr


def test_python_client_submits_dependencies_and_refuses_cycles(site: Site, account: Account,
                                                               blend_file: Path) -> None:
    client = FlamencoClient(site.url, account.token)
    target = client.resolve_target()
    output = str(blend_file.parent / "render" / "frames-######")
    render = client.submit_blender_render(BlenderRenderJob(str(blend_file), "1-4", output, name="render-A",
                                                           start_paused=True), target)
    comp = client.submit_blender_render(BlenderRenderJob(str(blend_file), "1-4", output, name="comp",
                                                         depends_on=(render["_id"],)), target)
    assert comp["status"] == "waiting-for-jobs" and comp["depends_on"] == [render["_id"]]
    with pytest.raises(RequestRejected) as refused:
        client.set_job_dependencies(render["_id"], [comp["_id"]])
    assert refused.value.status_code == 409
    assert f"'render-A' ({render['_id']}) -> 'comp' ({comp['_id']}) -> 'render-A'" in str(refused.value)
    assert client.set_job_dependencies(comp["_id"], [])["status"] == "queued"
    with pytest.raises(InvalidInput, match="on_dependency_failure"):
        BlenderRenderJob(str(blend_file), "1-4", output, depends_on=(render["_id"],),
                         on_dependency_failure="sometimes").validate()


def test_client_limits_are_the_servers() -> None:
    from flamenco import defaults as server_defaults
    from flamenco.client import defaults
    from flamenco.jobs import dependencies

    assert defaults.MAX_DEPENDENCIES == server_defaults.JOB_MAX_DEPENDENCIES
    assert defaults.DEPENDENCY_FAILURE_POLICIES == dependencies.FAILURE_POLICIES
    assert defaults.ON_DEPENDENCY_FAILURE == dependencies.DEFAULT_FAILURE_POLICY
