"""Fixtures for the end-to-end farm tests: a scene rendered by real Blender."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e.farm_support import make_scene, worker_shared_dir

pytestmark = pytest.mark.skipif(shutil.which("blender") is None, reason="needs Debian's blender")


@pytest.fixture(scope="session")
def small_scene() -> Iterator[Path]:
    """12 frames, 64x48, 4 samples: renders in about two seconds."""
    with worker_shared_dir("scene") as directory:
        yield make_scene(directory / "shot.blend")


@pytest.fixture(scope="session")
def slow_scene() -> Iterator[Path]:
    """12 frames that take long enough per task to kill things mid-render."""
    with worker_shared_dir("slow-scene") as directory:
        yield make_scene(directory / "slow.blend", size="320x240", samples=96)


@pytest.fixture
def render_output() -> Iterator[Path]:
    """Where a test job renders to: a directory the farm's (unprivileged) workers may write."""
    with worker_shared_dir("render") as directory:
        yield directory / "render"
