"""`flamenco submit ... --require-tag/--min-ram/...` and the Python client's ``requirements`` (issue 15),
against a real server process."""
from __future__ import annotations

from pathlib import Path

import pytest

from flamenco.client import FlamencoClient
from flamenco.client.errors import InvalidInput
from flamenco.client.jobs import BlenderRenderJob
from tests.client.support import Account, Site
from tests.client.test_cli import run, submit, submit_offline


def test_cli_requirements_reach_the_server_and_jobs_show_prints_them(site: Site, account: Account,
                                                                      blend_file: Path) -> None:
    result = submit(site, account, blend_file, "--require-tag", "GPU", "--require-tag", "room-b",
                    "--min-cores", "8", "--min-ram", "32", "--min-gpu-memory", "12")
    assert result.exit_code == 0, result.output
    job_id = result.stdout.strip()
    with FlamencoClient(site.url, account.token) as client:
        stored = client.get_job(job_id)["requirements"]
    assert stored == {"tags": ["gpu", "room-b"], "min_cpu_cores": 8, "min_ram_gb": 32, "min_gpu_memory_gb": 12}
    shown = run(site, account, "jobs", "show", job_id)
    assert "requires       tag 'gpu', tag 'room-b', 8 CPU cores, 32 GB RAM, a GPU with 12 GB memory" in shown.stdout


def test_job_without_requirement_options_sends_none(site: Site, account: Account, blend_file: Path) -> None:
    result = submit(site, account, blend_file)
    assert result.exit_code == 0, result.output
    with FlamencoClient(site.url, account.token) as client:
        assert "requirements" not in client.get_job(result.stdout.strip())


@pytest.mark.parametrize("args, message", [
    (["--require-tag", "has space"], "Invalid value for '--require-tag': 'has space' is not a tag"),
    (["--min-ram", "0"], "Invalid value for '--min-ram'"),
    (["--min-cores", "-2"], "Invalid value for '--min-cores'"),
    (["--min-gpu-memory", "lots"], "Invalid value for '--min-gpu-memory'"),
])
def test_bad_requirement_options_name_the_option(blend_file: Path, args: list[str], message: str) -> None:
    result = submit_offline(blend_file, *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_python_client_checks_requirements_before_sending() -> None:
    job = BlenderRenderJob(filepath="/s/shot.blend", frames="1-4", render_output="/s/out/frames-####",
                           requirements={"min_ram_gb": "32"})
    with pytest.raises(InvalidInput) as caught:
        job.document("p" * 24, "m" * 24)
    assert caught.value.field == "requirements.min_ram_gb"
