"""Fixtures of the client and CLI tests: a real server per module, an account per test."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from flamenco.client import FlamencoClient
from tests.client.support import Account, Site, make_account, module_site


@pytest.fixture(scope="module")
def site(mongo_server: str, redis_server: str) -> Iterator[Site]:
    with module_site(mongo_server, redis_server) as s:
        yield s


@pytest.fixture
def account(site: Site) -> Account:
    """A user who is member of one project with one Manager."""
    return make_account(site.db)


@pytest.fixture
def client(site: Site, account: Account) -> Iterator[FlamencoClient]:
    with FlamencoClient(site.url, account.token) as c:
        yield c


@pytest.fixture
def blend_file(tmp_path: Path) -> Path:
    """A file named like a .blend (the client only sends its path; workers read it)."""
    path = tmp_path / "shot.blend"
    path.write_bytes(b"BLENDER-v304")
    return path
