"""The add-on's "After Jobs" field: the submitted job waits for those jobs (Debian's Blender, a real server)."""
from __future__ import annotations

from pathlib import Path

import pytest

from flamenco.client import FlamencoClient
from tests.addon.support import job_id_of, run_blender
from tests.client.support import Account, Site

pytestmark = pytest.mark.blender


def test_after_jobs_makes_the_submitted_job_wait(blender: str, scene: Path, site: Site, account: Account) -> None:
    first = job_id_of(run_blender(blender, scene, site.url, account.token, "scene.flamenco.job_name = 'render-A'"))
    changes = (f"scene.flamenco.job_name = 'comp'\nscene.flamenco.after_jobs = ' {first}, {first} '\n"
               "scene.flamenco.on_dependency_failure = 'wait'")
    result = run_blender(blender, scene, site.url, account.token, changes)
    job = FlamencoClient(site.url, account.token).get_job(job_id_of(result))
    assert f"Flamenco job {job['_id']} submitted: waiting-for-jobs" in result.stdout
    assert job["depends_on"] == [first] and job["on_dependency_failure"] == "wait"
    assert job["status_reason"] == "Waiting for 1 job: 'render-A' (queued)"


def test_a_name_instead_of_a_job_id_is_refused_before_saving(blender: str, scene: Path, site: Site,
                                                             account: Account) -> None:
    before = scene.read_bytes()
    changes = "scene.flamenco.after_jobs = 'render-A'\nbpy.ops.ed.undo_push(message='edit')"
    result = run_blender(blender, scene, site.url, account.token, changes)
    assert result.returncode == 1
    assert "Flamenco: 'After Jobs' holds 'render-A', which is not a job id" in result.stdout
    assert scene.read_bytes() == before
    assert FlamencoClient(site.url, account.token).list_jobs().items == []
