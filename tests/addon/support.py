"""Running Debian's Blender headless for the add-on tests."""
from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.server import REPO_ROOT

# The test scene of DESIGN.md: Cycles on the CPU, 64x48, 12 frames, 4 samples.
# Debian's Blender lacks OpenImageDenoise, so denoising must be off.
MAKE_SCENE = """
import sys, bpy
scene = bpy.context.scene
scene.render.engine = "CYCLES"
scene.cycles.device = "CPU"
scene.cycles.samples = 4
scene.cycles.use_denoising = False
scene.render.resolution_x, scene.render.resolution_y = 64, 48
scene.render.resolution_percentage = 100
scene.frame_start, scene.frame_end = 1, 12
scene.render.fps, scene.render.fps_base = 24, 1.0
scene.render.image_settings.file_format = "PNG"
scene.render.filepath = "//render/frames-######"
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[sys.argv.index("--") + 1])
"""
# Seconds Blender may take to start, run a script and quit (about 1.5 s here).
BLENDER_TIMEOUT = 120

ADDON_DIR = REPO_ROOT / "addon"
# Enables the add-on the way Blender's preferences do, points it at the server
# and submits; `scene_changes` runs first (e.g. to make the file dirty).
# Reverting to the file on disk afterwards shows what was saved; disabling the
# add-on at the end checks that it unregisters cleanly.
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
bpy.ops.wm.revert_mainfile()
s = bpy.context.scene
print("ON_DISK", s.frame_start, s.frame_end, s.render.image_settings.file_format)
addon_utils.disable("flamenco_submit", default_set=True, handle_error=None)
print("DISABLED", hasattr(bpy.types.Scene, "flamenco"), hasattr(bpy.types, "FLAMENCO_OT_submit_job"))
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
