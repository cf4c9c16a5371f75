"""The Blender add-on, enabled in Debian's Blender running headless, submitting to a real server."""
from __future__ import annotations

import subprocess
from pathlib import Path

from flamenco.client import FlamencoClient
from flamenco.farm.services import free_port
from tests.addon.conftest import BLENDER_TIMEOUT
from tests.client.support import REPO_ROOT, Account, Site, make_account

ADDON_DIR = REPO_ROOT / "addon"
# Enables the add-on the way Blender's preferences do, points it at the server
# and submits; `scene_changes` runs first (e.g. to make the file dirty).
SUBMIT_SCRIPT = """
import sys, bpy, addon_utils
sys.path.insert(0, {addon_dir!r})
mod = addon_utils.enable("flamenco_submit", default_set=True, handle_error=None)
assert mod is not None, "add-on failed to enable"
prefs = bpy.context.preferences.addons["flamenco_submit"].preferences
prefs.server_url, prefs.token = {url!r}, {token!r}
prefs.project, prefs.manager = {project!r}, {manager!r}
scene = bpy.context.scene
{scene_changes}
bpy.ops.flamenco.submit_job()
print("FLAMENCO_JOB_ID=" + bpy.context.window_manager.flamenco_last_job_id)
"""


def run_blender(blender: str, blend: Path, url: str, token: str, scene_changes: str = "",
                project: str = "", manager: str = "") -> subprocess.CompletedProcess:
    script = SUBMIT_SCRIPT.format(addon_dir=str(ADDON_DIR), url=url, token=token, project=project,
                                  manager=manager, scene_changes=scene_changes)
    return subprocess.run([blender, "-b", "--factory-startup", str(blend), "--python-exit-code", "1",
                           "--python-expr", script], capture_output=True, text=True, timeout=BLENDER_TIMEOUT)


def job_id_of(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("FLAMENCO_JOB_ID=")]
    assert lines, result.stdout
    return lines[0].split("=", 1)[1]


def test_submit_from_blender(blender: str, scene: Path, site: Site, account: Account) -> None:
    changes = "scene.flamenco.chunk_size = 4\nscene.flamenco.create_video = True\nscene.flamenco.priority = 65"
    result = run_blender(blender, scene, site.url, account.token, changes)
    job_id = job_id_of(result)
    assert f"Flamenco job {job_id} submitted" in result.stdout

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
               "assert bpy.data.is_dirty")
    job_id = job_id_of(run_blender(blender, scene, site.url, account.token, changes))

    settings = FlamencoClient(site.url, account.token).get_job(job_id)["settings"]
    assert settings["frames"] == "3,6,9"
    assert settings["format"] == "JPEG"
    assert settings["render_output"] == "/farm/out/######"
    assert "fps" not in settings  # no video asked for
    saved = subprocess.run([blender, "-b", "--factory-startup", str(scene), "--python-expr",
                            "import bpy; s = bpy.context.scene; "
                            "print('SAVED', s.frame_start, s.frame_end, s.render.image_settings.file_format)"],
                           capture_output=True, text=True, timeout=BLENDER_TIMEOUT)
    assert "SAVED 3 9 JPEG" in saved.stdout


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


def test_movie_output_is_refused(blender: str, scene: Path, site: Site, account: Account) -> None:
    result = run_blender(blender, scene, site.url, account.token,
                         "scene.render.image_settings.file_format = 'FFMPEG'")
    assert result.returncode == 1
    assert "Flamenco: the scene renders to a movie (FFMPEG); choose an image format" in result.stdout
