"""The Blender add-on, enabled in Debian's Blender running headless, submitting to a real server."""
from __future__ import annotations

from pathlib import Path

import pytest

from flamenco.client import FlamencoClient
from flamenco.farm.services import free_port
from tests.addon.support import job_id_of, run_blender
from tests.client.support import Account, Site, make_account

pytestmark = pytest.mark.blender


def test_submit_from_blender(blender: str, scene: Path, site: Site, account: Account) -> None:
    changes = "scene.flamenco.chunk_size = 4\nscene.flamenco.create_video = True\nscene.flamenco.priority = 65"
    result = run_blender(blender, scene, site.url, account.token, changes)
    job_id = job_id_of(result)
    assert f"Flamenco job {job_id} submitted" in result.stdout
    assert "DISABLED False False" in result.stdout

    job = FlamencoClient(site.url, account.token).get_job(job_id)
    assert job["job_type"] == "blender-render"
    assert job["name"] == "shot"
    assert job["priority"] == 65
    assert job["project"] == str(account.project["_id"]) and job["manager"] == str(account.manager["_id"])
    assert job["user"] == str(account.user["_id"])
    settings = job["settings"]
    assert settings["filepath"] == str(scene)
    assert settings["frames"] == "1-12"
    assert settings["chunk_size"] == 4
    # `//render/frames-######` is relative to the .blend; the farm gets the absolute path.
    assert settings["render_output"] == str(scene.parent / "render" / "frames-######")
    assert (settings["format"], settings["output_file_extension"]) == ("PNG", ".png")
    assert settings["fps"] == 24


def test_dirty_file_is_saved_before_submitting(blender: str, scene: Path, site: Site, account: Account) -> None:
    changes = ("scene.frame_start, scene.frame_end, scene.frame_step = 3, 9, 3\n"
               "scene.render.image_settings.file_format = 'JPEG'\n"
               "scene.render.filepath = '/farm/out/'\n"
               "bpy.ops.ed.undo_push(message='edit')  # what the UI does after each change\n"
               "assert bpy.data.is_dirty")
    result = run_blender(blender, scene, site.url, account.token, changes)
    job_id = job_id_of(result)

    settings = FlamencoClient(site.url, account.token).get_job(job_id)["settings"]
    assert settings["frames"] == "3,6,9"
    assert settings["format"] == "JPEG"
    assert settings["render_output"] == "/farm/out/######"
    assert "fps" not in settings  # no video asked for
    assert "ON_DISK 3 9 JPEG" in result.stdout


def test_headless_script_changes_are_saved(blender: str, scene: Path, site: Site, account: Account) -> None:
    """Without an undo push the file is not dirty, yet a script's changes must reach the farm."""
    changes = "scene.frame_end = 6\nassert not bpy.data.is_dirty"
    result = run_blender(blender, scene, site.url, account.token, changes)
    assert FlamencoClient(site.url, account.token).get_job(job_id_of(result))["settings"]["frames"] == "1-6"
    assert "ON_DISK 1 6 PNG" in result.stdout


def test_project_and_manager_from_preferences(blender: str, scene: Path, site: Site) -> None:
    account = make_account(site.db, projects=2, managers_per_project=2)
    ambiguous = run_blender(blender, scene, site.url, account.token)
    assert ambiguous.returncode == 1
    assert "Flamenco: several projects: set one in the add-on preferences; choices: " in ambiguous.stdout
    assert account.projects[1]["name"] in ambiguous.stdout

    job_id = job_id_of(run_blender(blender, scene, site.url, account.token,
                                   project=account.projects[1]["url"], manager=account.managers[3]["name"]))
    job = FlamencoClient(site.url, account.token).get_job(job_id)
    assert (job["project"], job["manager"]) == (str(account.projects[1]["_id"]), str(account.managers[3]["_id"]))


def test_wrong_token_is_reported(blender: str, scene: Path, site: Site) -> None:
    result = run_blender(blender, scene, site.url, "wrong-token")
    assert result.returncode == 1
    assert "Flamenco: HTTP 401: " in result.stdout
    assert "check the token in the add-on preferences" in result.stdout


def test_unreachable_server_is_reported(blender: str, scene: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_blender(blender, scene, url, "token")
    assert result.returncode == 1
    assert f"Flamenco: cannot reach the Flamenco server at {url}" in result.stdout


# A change that makes the file unsaved, as the UI does after each edit.
MAKE_DIRTY = "bpy.ops.ed.undo_push(message='edit')\nassert bpy.data.is_dirty"


@pytest.mark.parametrize("changes, message", [
    ("scene.render.image_settings.file_format = 'FFMPEG'",
     "Flamenco: the scene renders to a movie (FFMPEG); choose an image format"),
    ("scene.flamenco.create_video = True\nscene.render.image_settings.file_format = 'OPEN_EXR'",
     "Flamenco: cannot make a video from OPEN_EXR frames"),
    ("scene.render.filepath = 'render/frames-####'",
     "Flamenco: the render output path 'render/frames-####' is relative to Blender's working directory"),
    ("scene.frame_start, scene.frame_end = 0, 1048574",
     "Flamenco: the scene renders 1048575 frames; a Flamenco job may have at most 1000000"),
])
def test_invalid_scene_is_refused_before_the_file_is_saved(blender: str, scene: Path, site: Site, account: Account,
                                                           changes: str, message: str) -> None:
    """Issue 14 #8: the add-on saved the artist's file, then refused the scene."""
    before = scene.read_bytes(), scene.stat().st_mtime_ns
    result = run_blender(blender, scene, site.url, account.token, f"{changes}\n{MAKE_DIRTY}")
    assert result.returncode == 1
    assert message in result.stdout, result.stdout + result.stderr
    assert (scene.read_bytes(), scene.stat().st_mtime_ns) == before
    assert not scene.with_suffix(".blend1").exists()  # no save made a backup either
    assert FlamencoClient(site.url, account.token).list_jobs().items == []


def test_refused_server_settings_leave_the_file_unsaved(blender: str, scene: Path, site: Site) -> None:
    """The token, project and Manager are checked before the save too."""
    before = scene.read_bytes(), scene.stat().st_mtime_ns
    wrong_token = run_blender(blender, scene, site.url, "wrong-token", MAKE_DIRTY)
    assert wrong_token.returncode == 1
    assert "Flamenco: HTTP 401: " in wrong_token.stdout
    account = make_account(site.db)
    no_such_project = run_blender(blender, scene, site.url, account.token, MAKE_DIRTY, project="no-such-project")
    assert no_such_project.returncode == 1
    assert "Flamenco: no project 'no-such-project' is available to you" in no_such_project.stdout
    assert (scene.read_bytes(), scene.stat().st_mtime_ns) == before


def test_output_without_hashes_gets_the_digits_blender_would_add(blender: str, scene: Path, site: Site,
                                                                 account: Account) -> None:
    """Blender appends four digits to a file name without '#'; the job spells them out for the farm."""
    result = run_blender(blender, scene, site.url, account.token, "scene.render.filepath = '//render/shot-'")
    settings = FlamencoClient(site.url, account.token).get_job(job_id_of(result))["settings"]
    assert settings["render_output"] == str(scene.parent / "render" / "shot-####")
