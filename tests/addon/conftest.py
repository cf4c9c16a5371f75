"""Fixtures of the add-on tests: a real server per module and a .blend made by Blender."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.addon.support import BLENDER_TIMEOUT, MAKE_SCENE
from tests.client.support import Account, Site, make_account, module_site


@pytest.fixture(scope="session")
def blender() -> str:
    path = shutil.which("blender")
    if path is None:
        pytest.fail("Blender is not installed (./dev setup installs Debian's blender)")
    return path


@pytest.fixture(scope="session")
def scene_template(blender: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scene") / "scene.blend"
    subprocess.run([blender, "-b", "--factory-startup", "--python-exit-code", "1", "--python-expr", MAKE_SCENE,
                    "--", str(path)], check=True, capture_output=True, timeout=BLENDER_TIMEOUT)
    return path


@pytest.fixture
def scene(scene_template: Path, tmp_path: Path) -> Path:
    """A copy of the test scene for this test (tests may save it)."""
    path = tmp_path / "shot.blend"
    shutil.copyfile(scene_template, path)
    return path


@pytest.fixture(scope="module")
def site(mongo_server: str, redis_server: str) -> Iterator[Site]:
    with module_site(mongo_server, redis_server) as s:
        yield s


@pytest.fixture
def account(site: Site) -> Account:
    return make_account(site.db)
