"""`flamenco submit` and `flamenco jobs` against a real server process."""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from bson import ObjectId
from click.testing import CliRunner, Result

from flamenco.client import FlamencoClient
from flamenco.client.cli import EXIT_JOB_NOT_COMPLETED, commands
from flamenco.farm.services import free_port
from tests.client.support import Account, Site, make_account
from tests.support.server import REPO_ROOT


@click.group()
def cli() -> None:
    """The client's commands as `flamenco` mounts them."""


for _command in commands:
    cli.add_command(_command)


def run(site: Site, account: Account, *args: str, **env: str) -> Result:
    environment = {"FLAMENCO_SERVER": site.url, "FLAMENCO_TOKEN": account.token,
                   "FLAMENCO_PROJECT": "", "FLAMENCO_MANAGER": ""}
    environment.update(env)
    return CliRunner().invoke(cli, list(args), env=environment, catch_exceptions=False)


def submit(site: Site, account: Account, blend_file: Path, *extra: str, **env: str) -> Result:
    output = str(blend_file.parent / "render" / "frames-######")
    return run(site, account, "submit", "blender-render", str(blend_file), "--frames", "1-12",
               "--chunk-size", "4", "--output", output, *extra, **env)


def submit_offline(blend_file: Path, *extra: str, token: str = "some-token") -> Result:
    """Submit to a port where nothing listens: for input the CLI must reject before connecting."""
    url = f"http://127.0.0.1:{free_port()}"
    output = str(blend_file.parent / "render" / "frames-######")
    return CliRunner().invoke(cli, ["submit", "blender-render", str(blend_file), "--frames", "1-12",
                                    "--output", output, "--server", url, *extra],
                              env={"FLAMENCO_TOKEN": token}, catch_exceptions=False)


def test_submit_prints_the_job_id_and_stores_the_settings(site: Site, account: Account, blend_file: Path) -> None:
    result = submit(site, account, blend_file, "--video", "--fps", "30", "--format", "jpeg",
                    "--priority", "70", "--name", "Shot 10")
    assert result.exit_code == 0, result.output
    job_id = result.stdout.strip()
    assert f"Submitted job {job_id} 'Shot 10' to project {account.project['name']!r}" in result.stderr
    assert "Warning: manager" in result.stderr and "'video-encoding'" in result.stderr

    job = FlamencoClient(site.url, account.token).get_job(job_id)
    assert job["name"] == "Shot 10"
    assert job["priority"] == 70
    assert job["project"] == str(account.project["_id"]) and job["manager"] == str(account.manager["_id"])
    settings = job["settings"]
    assert settings["filepath"] == str(blend_file)
    assert (settings["frames"], settings["chunk_size"]) == ("1-12", 4)
    assert settings["render_output"] == str(blend_file.parent / "render" / "frames-######")
    assert (settings["format"], settings["output_file_extension"], settings["fps"]) == ("JPEG", ".jpg", 30)


def test_video_with_an_encoding_manager(site: Site, account: Account, blend_file: Path) -> None:
    site.db["flamenco_managers"].update_one({"_id": account.manager["_id"]},
                                            {"$set": {"worker_task_types": ["blender-render", "video-encoding",
                                                                            "file-management"]}})
    result = submit(site, account, blend_file, "--video")
    assert result.exit_code == 0, result.output
    assert "Warning" not in result.stderr
    # Three render tasks, create-video, move-to-final.
    assert FlamencoClient(site.url, account.token).job_task_summary(result.stdout.strip()).total == 5


def test_submit_with_explicit_project_and_manager(site: Site, blend_file: Path) -> None:
    account = make_account(site.db, projects=2, managers_per_project=2)
    result = submit(site, account, blend_file, "--project", account.projects[1]["url"],
                    "--manager", str(account.managers[3]["_id"]))
    assert result.exit_code == 0, result.output
    job = FlamencoClient(site.url, account.token).get_job(result.stdout.strip())
    assert job["manager"] == str(account.managers[3]["_id"])
    via_env = submit(site, account, blend_file, FLAMENCO_PROJECT=account.projects[0]["name"],
                     FLAMENCO_MANAGER=account.managers[1]["name"])
    assert via_env.exit_code == 0, via_env.output


def test_ambiguous_project_lists_the_choices(site: Site, blend_file: Path) -> None:
    account = make_account(site.db, projects=2)
    result = submit(site, account, blend_file)
    assert result.exit_code == 1
    assert "Error: project: several projects are available; choose one with --project" in result.stderr
    assert account.projects[0]["name"] in result.stderr and account.projects[1]["name"] in result.stderr
    assert "Traceback" not in result.output


def test_unknown_project_is_a_clear_error(site: Site, account: Account, blend_file: Path) -> None:
    result = submit(site, account, blend_file, "--project", "no-such-project")
    assert result.exit_code == 1
    assert "Error: project: no project 'no-such-project' is available to you; choose one of: " \
           f"{account.project['name']}" in result.stderr


def test_server_rejection_shows_field_and_reason_once(site: Site, account: Account, blend_file: Path) -> None:
    result = submit(site, account, blend_file, "--name", "x" * 300)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error: HTTP 422: ")
    assert any(line.startswith("  name: ") and "256" in line for line in lines[1:]), result.stderr
    assert result.stderr.count("256") == 1, result.stderr


def test_refused_status_change_is_said_once(site: Site, account: Account, blend_file: Path) -> None:
    """Issue 14 #5: `HTTP 409: <reason>` was followed by the same reason again."""
    job_id = submit(site, account, blend_file).stdout.strip()
    site.db["flamenco_jobs"].update_one({"_id": ObjectId(job_id)}, {"$set": {"status": "completed"}})
    result = run(site, account, "jobs", "cancel", job_id)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: HTTP 409: status: cannot go from 'completed' to 'cancel-requested'")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("args, message", [
    (["--frames", "1-x"], "Invalid value for '--frames': '1-x' is not a frame number"),
    (["--frames", "9-2"], "Invalid value for '--frames': range '9-2' ends before it starts"),
    (["--frames", "0-1000000"], "Invalid value for '--frames': '0-1000000' has 1000001 frames; "
                                "a job may have at most 1000000"),
    (["--output", "render/frames-####"], "Invalid value for '--output': 'render/frames-####' is relative"),
    (["--output", "/render/shot/frames"], "Invalid value for '--output': '/render/shot/frames' has no '#'"),
    (["--chunk-size", "0"], "Invalid value for '--chunk-size'"),
    (["--priority", "500"], "Invalid value for '--priority'"),
    (["--format", "GIF"], "Invalid value for '--format'"),
])
def test_bad_options_name_the_option(blend_file: Path, args: list[str], message: str) -> None:
    result = submit_offline(blend_file, *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_accepted_frame_syntax_reaches_the_server(site: Site, account: Account, blend_file: Path) -> None:
    """`1..12` (Blender's style) was refused by the client although the server takes it."""
    result = submit(site, account, blend_file, "--frames", "1..6, 10")
    assert result.exit_code == 0, result.output
    job_id = result.stdout.strip()
    assert FlamencoClient(site.url, account.token).get_job(job_id)["settings"]["frames"] == "1..6,10"
    assert FlamencoClient(site.url, account.token).job_task_summary(job_id).total == 3


# Address space the CLI may use in the test below; it starts in about 100 MB,
# and listing a billion frames took 23 GB.
CLI_MEMORY_LIMIT = 512 * 1024 * 1024
# Seconds the refusal may take on a loaded machine (it takes about half a second).
CLI_REFUSAL_SECONDS = 30


def limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CLI_MEMORY_LIMIT, CLI_MEMORY_LIMIT))


def test_a_billion_frames_are_refused_quickly_in_bounded_memory(blend_file: Path) -> None:
    """Issue 14 #2: `--frames 1-1000000000` listed every frame until the OOM killer struck."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "flamenco.cli", "submit", "blender-render", str(blend_file),
         "--frames", "1-1000000000", "--output", str(blend_file.parent / "frames-####"),
         "--server", f"http://127.0.0.1:{free_port()}", "--token", "some-token"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=CLI_REFUSAL_SECONDS * 2, preexec_fn=limit_memory)
    assert time.monotonic() - started < CLI_REFUSAL_SECONDS
    assert result.returncode == 2, result.stderr
    assert ("Error: Invalid value for '--frames': '1-1000000000' has 1000000000 frames; "
            "a job may have at most 1000000") in result.stderr
    assert "Traceback" not in result.stderr


def test_video_needs_an_image_format_ffmpeg_reads(blend_file: Path) -> None:
    result = submit_offline(blend_file, "--video", "--format", "OPEN_EXR")
    assert result.exit_code == 1
    assert "Error: video: cannot make a video from OPEN_EXR frames" in result.stderr


def test_missing_blend_file(tmp_path: Path) -> None:
    result = submit_offline(tmp_path / "missing.blend")
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_not_a_blend_file(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hi")
    result = submit_offline(text)
    assert result.exit_code == 1
    assert "Error: filepath: " in result.stderr and "is not a .blend file" in result.stderr


def test_missing_token(blend_file: Path) -> None:
    result = submit_offline(blend_file, token="")
    assert result.exit_code == 2
    assert "no API token: pass --token or set FLAMENCO_TOKEN" in result.stderr


def test_wrong_token(site: Site, account: Account) -> None:
    result = run(site, account, "jobs", "list", "--token", "wrong")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: HTTP 401: ")
    assert "the server did not accept the token; check --token or FLAMENCO_TOKEN" in result.stderr


def test_unreachable_server(blend_file: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(cli, ["jobs", "list", "--server", url, "--token", "some-token"])
    assert result.exit_code == 1
    assert f"Error: cannot connect to the Flamenco server at {url}; is it running?" in result.stderr
    assert "Traceback" not in result.output
    assert "cannot connect" in submit_offline(blend_file).stderr


def test_server_url_without_scheme(blend_file: Path) -> None:
    result = submit_offline(blend_file, "--server", "localhost:8080")
    assert result.exit_code == 1
    assert "Error: server: 'localhost:8080' is not an http:// or https:// URL" in result.stderr


def test_jobs_list_show_cancel_requeue(site: Site, account: Account, blend_file: Path) -> None:
    job_id = submit(site, account, blend_file, "--name", "Listed").stdout.strip()

    listing = run(site, account, "jobs", "list")
    assert listing.exit_code == 0, listing.output
    assert listing.stdout.splitlines()[0].split() == ["ID", "STATUS", "PRIO", "TYPE", "CREATED", "NAME"]
    row = listing.stdout.splitlines()[1].split()
    assert (row[0], row[1], row[-1]) == (job_id, "queued", "Listed")

    as_json = json.loads(run(site, account, "jobs", "list", "--json", "--status", "queued").stdout)
    assert [j["_id"] for j in as_json] == [job_id]
    assert json.loads(run(site, account, "jobs", "list", "--json", "--status", "completed").stdout) == []

    shown = run(site, account, "jobs", "show", job_id)
    assert shown.exit_code == 0, shown.output
    assert "status         queued" in shown.stdout
    assert "tasks:         4 (4 queued)" in shown.stdout
    assert json.loads(run(site, account, "jobs", "show", job_id, "--json").stdout)["task_counts"] == {"queued": 4}

    canceled = run(site, account, "jobs", "cancel", job_id)
    assert canceled.exit_code == 0, canceled.output
    assert canceled.stdout.strip() == f"{job_id}: canceled"

    requeued = run(site, account, "jobs", "requeue", job_id)
    assert requeued.exit_code == 0, requeued.output
    assert requeued.stdout.strip() == f"{job_id}: set-job-status requeued; now queued"


def test_jobs_of_another_user_stay_hidden(site: Site, account: Account, blend_file: Path) -> None:
    job_id = submit(site, account, blend_file).stdout.strip()
    stranger = make_account(site.db)
    assert json.loads(run(site, stranger, "jobs", "list", "--json").stdout) == []
    result = run(site, stranger, "jobs", "cancel", job_id)
    assert result.exit_code == 1
    assert result.stderr.startswith(("Error: HTTP 404: ", "Error: HTTP 403: "))


def test_bad_job_id(site: Site, account: Account) -> None:
    result = run(site, account, "jobs", "show", "12345")
    assert result.exit_code == 1
    assert "Error: job: '12345' is not a valid id" in result.stderr


def test_watch_shows_progress_until_the_job_stops(site: Site, account: Account, blend_file: Path) -> None:
    result = submit(site, account, blend_file, "--paused", "--watch", "--interval", "0.1")
    assert result.exit_code == EXIT_JOB_NOT_COMPLETED
    job_id = result.stdout.strip()
    assert "0/4" in result.stderr  # the tqdm bar: completed of all tasks
    assert f"Job {job_id} paused" in result.stderr

    run(site, account, "jobs", "cancel", job_id)
    watched = run(site, account, "jobs", "watch", job_id, "--interval", "0.1")
    assert watched.exit_code == EXIT_JOB_NOT_COMPLETED
    assert f"Job {job_id} canceled" in watched.stderr


def test_watch_timeout(site: Site, account: Account, blend_file: Path) -> None:
    job_id = submit(site, account, blend_file).stdout.strip()
    result = run(site, account, "jobs", "watch", job_id, "--interval", "0.05", "--timeout", "0.2")
    assert result.exit_code == 1
    assert f"Error: job {job_id} is still queued after 0.2 s" in result.stderr


def test_flamenco_command_mounts_submit_and_jobs() -> None:
    """The installed `flamenco` command (flamenco.cli:main) offers these commands."""
    result = subprocess.run([sys.executable, "-m", "flamenco.cli", "submit", "blender-render", "--help"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for flag in ("--frames", "--chunk-size", "--output", "--video", "--fps", "--format", "--project",
                 "--manager", "--priority", "--name", "--watch", "--server", "--token"):
        assert flag in result.stdout
