"""The add-on runs inside Blender without the flamenco package, so it repeats a
few of the client's constants; these must not drift apart."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from flamenco import frame_ranges
from flamenco.client import defaults, jobs
from flamenco_protocol import requirements
from tests.support.server import REPO_ROOT

ADDON = REPO_ROOT / "addon" / "flamenco_submit"


def constants(path: Path) -> dict[str, Any]:
    """Module-level ``NAME = <literal>`` assignments, read without importing (no bpy here)."""
    found: dict[str, Any] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return found


def test_defaults_match_the_cli() -> None:
    addon = constants(ADDON / "__init__.py")
    assert addon["DEFAULT_CHUNK_SIZE"] == defaults.CHUNK_SIZE
    assert addon["DEFAULT_PRIORITY"] == defaults.PRIORITY
    assert addon["DEFAULT_SERVER_URL"] == defaults.SERVER_URL
    assert addon["bl_info"]["blender"] <= (3, 4, 0)  # Debian's Blender must load it


def test_job_rules_match_the_client() -> None:
    addon = constants(ADDON / "job.py")
    assert addon["JOB_TYPE"] == defaults.JOB_TYPE_BLENDER_RENDER
    assert set(addon["NO_VIDEO_FORMATS"]) == set(jobs.NO_VIDEO_FORMATS)
    assert addon["MAX_FRAME_COUNT"] == frame_ranges.MAX_FRAME_COUNT
    assert addon["MAX_DEPENDENCIES"] == defaults.MAX_DEPENDENCIES
    assert tuple(addon["DEPENDENCY_FAILURE_POLICIES"]) == defaults.DEPENDENCY_FAILURE_POLICIES


def test_requirement_rules_match_the_server() -> None:
    """The add-on's copy of flamenco_protocol.requirements (test_requirements.py checks its behaviour in Blender)."""
    addon = constants(ADDON / "requirements.py")
    assert addon["TAG_RE"] == requirements.TAG_RE
    assert addon["MAX_TAGS"] == requirements.MAX_TAGS
    assert addon["MAX_CPU_CORES"] == requirements.MAX_CPU_CORES
    assert addon["MAX_RAM_GB"] == requirements.MAX_RAM_GB
    assert addon["MAX_GPU_MEMORY_GB"] == requirements.MAX_GPU_MEMORY_GB
    assert set(addon["LABELS"]) == set(requirements.FIELDS)
