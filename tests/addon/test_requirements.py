"""The add-on's worker requirements (issue 15): required tags and minimum resources set in the
Flamenco panel reach the server; bad ones are refused before the file is saved (Debian's Blender,
a real server)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from flamenco.client import FlamencoClient
from flamenco_protocol import requirements
from tests.addon.support import ADDON_DIR, BLENDER_TIMEOUT, job_id_of, run_blender
from tests.client.support import Account, Site

pytestmark = pytest.mark.blender

# A change that makes the file unsaved, as the UI does after each edit.
MAKE_DIRTY = "bpy.ops.ed.undo_push(message='edit')\nassert bpy.data.is_dirty"


def test_required_tags_and_minimums_reach_the_server(blender: str, scene: Path, site: Site,
                                                     account: Account) -> None:
    changes = ("scene.flamenco.required_tags = 'GPU, room-b  gpu'\n"
               "scene.flamenco.min_ram_gb = 32\n"
               "scene.flamenco.min_cpu_cores = 16\n"
               "scene.flamenco.gpu = True\n"
               "scene.flamenco.min_gpu_memory_gb = 12.3")
    result = run_blender(blender, scene, site.url, account.token, changes)
    job = FlamencoClient(site.url, account.token).get_job(job_id_of(result))
    # Upper case folded, duplicates dropped; `gpu` implied by the GPU memory minimum, and 12.3
    # sent as typed, not as the 12.300000190734863 Blender's single-precision float holds.
    assert job["requirements"] == {"tags": ["gpu", "room-b"], "min_cpu_cores": 16, "min_ram_gb": 32,
                                   "min_gpu_memory_gb": 12.3}
    assert "ON_DISK 1 12 PNG" in result.stdout


def test_a_job_without_requirements_sends_none(blender: str, scene: Path, site: Site, account: Account) -> None:
    """Zero minimums and no tags are the panel's defaults: any worker may run the job."""
    result = run_blender(blender, scene, site.url, account.token, "scene.flamenco.required_tags = ' , '")
    assert not FlamencoClient(site.url, account.token).get_job(job_id_of(result)).get("requirements")


@pytest.mark.parametrize("changes, message", [
    ("scene.flamenco.required_tags = 'gpu room/b'",
     "Flamenco: 'Required Tags' holds 'room/b', which is not a tag: use 1-64 letters, digits and '_ . : -', "
     "starting with a letter or digit"),
    ("scene.flamenco.required_tags = ' '.join(f't{i}' for i in range(33))",
     "Flamenco: a job may require at most 32 tags, 'Required Tags' names 33"),
    ("scene.flamenco.min_ram_gb = 32000 * 1024",
     "Flamenco: 'Min RAM (GB)' is 3.2768e+07; use 0 (any worker) to 65536"),
    ("scene.flamenco.min_cpu_cores = -4",
     "Flamenco: 'Min CPU Cores' is -4; use 0 (any worker) to 4096"),
    ("scene.flamenco.min_gpu_memory_gb = 5000",
     "Flamenco: 'Min GPU Memory (GB)' is 5000; use 0 (any worker) to 4096"),
])
def test_bad_requirements_are_refused_before_the_file_is_saved(blender: str, scene: Path, site: Site,
                                                               account: Account, changes: str,
                                                               message: str) -> None:
    before = scene.read_bytes(), scene.stat().st_mtime_ns
    result = run_blender(blender, scene, site.url, account.token, f"{changes}\n{MAKE_DIRTY}")
    assert result.returncode == 1
    assert message in result.stdout, result.stdout + result.stderr
    assert (scene.read_bytes(), scene.stat().st_mtime_ns) == before
    assert not scene.with_suffix(".blend1").exists()
    assert FlamencoClient(site.url, account.token).list_jobs().items == []


# (Required Tags text, min CPU cores, min RAM GB, GPU, min GPU memory GB), as the panel holds them.
CASES: list[tuple[str, int, float, bool, float]] = [
    ("", 0, 0.0, False, 0.0),
    ("gpu", 0, 0.0, False, 0.0),
    ("GPU Room-B, gpu,,room-b", 16, 32.0, True, 0.0),
    ("blender-4.2 room:b big_ram 9lives", 4096, 65536.0, False, 4096.0),
    ("", 0, 0.5, True, 12.0),
    ("a" * 64, 1, 0.001, False, 0.0),
    ("a" * 65, 0, 0.0, False, 0.0),
    ("room/b", 0, 0.0, False, 0.0),
    ("-gpu", 0, 0.0, False, 0.0),
    (".gpu", 0, 0.0, False, 0.0),
    ("räum", 0, 0.0, False, 0.0),
    (" ".join(f"t{i}" for i in range(32)), 0, 0.0, False, 0.0),
    (" ".join(f"t{i}" for i in range(33)), 0, 0.0, False, 0.0),
    ("", 4097, 0.0, False, 0.0),
    ("", -1, 0.0, False, 0.0),
    ("", 0, 65536.5, False, 0.0),
    ("", 0, -0.5, False, 0.0),
    ("", 0, 0.0, True, 4096.5),
    ("", 0, 0.0, False, -1.0),
    ("", 0, float("nan"), False, 0.0),
    ("", 0, 0.0, False, float("inf")),
]
# Runs the add-on's check on each case inside Blender's Python; prints one JSON line of results.
PARSE_SCRIPT = """
import sys, json
sys.path.insert(0, {addon_dir!r})
from flamenco_submit import requirements
from flamenco_submit.server import SubmitError
results = []
for case in json.loads({cases!r}):
    try:
        results.append(requirements.parse(*case))
    except SubmitError as ex:
        results.append(str(ex))
print("RESULTS=" + json.dumps(results))
"""


def server_rule(text: str, cores: int, ram: float, gpu: bool, gpu_memory: float) -> dict[str, Any] | None:
    """What flamenco_protocol.requirements (the server's and the CLI's rule) makes of a case; None: refused."""
    given = {"tags": text.replace(",", " ").split(), "min_cpu_cores": cores, "min_ram_gb": ram, "gpu": gpu,
             "min_gpu_memory_gb": gpu_memory}
    try:
        return requirements.parse(given)
    except requirements.RequirementsError:
        return None


def test_the_addon_check_agrees_with_the_server_rule(blender: str) -> None:
    """The add-on keeps its own copy of the rule (no flamenco package in Blender); it must accept
    exactly what the server accepts, and send it in the same compact form."""
    script = PARSE_SCRIPT.format(addon_dir=str(ADDON_DIR), cases=json.dumps(CASES))
    result = subprocess.run([blender, "-b", "--factory-startup", "--python-exit-code", "1", "--python-expr", script],
                            capture_output=True, text=True, timeout=BLENDER_TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULTS="))
    addon_results = json.loads(line.split("=", 1)[1])
    for case, addon_result in zip(CASES, addon_results, strict=True):
        expected = server_rule(*case)
        if expected is None:
            assert isinstance(addon_result, str), (case, addon_result)
        else:
            assert addon_result == expected, case
