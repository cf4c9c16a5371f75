"""Fixtures for the end-to-end farm tests: a scene rendered by real Blender."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.farm_support import make_scene

pytestmark = pytest.mark.skipif(shutil.which("blender") is None, reason="needs Debian's blender")


@pytest.fixture(scope="session")
def small_scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 frames, 64x48, 4 samples: renders in about two seconds."""
    return make_scene(tmp_path_factory.mktemp("scene") / "shot.blend")


@pytest.fixture(scope="session")
def slow_scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 frames that take long enough per task to kill things mid-render."""
    return make_scene(tmp_path_factory.mktemp("slow-scene") / "slow.blend", size="320x240", samples=96)
