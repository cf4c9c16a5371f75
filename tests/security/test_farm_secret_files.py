"""Secrets at rest: every farm file holding a secret is 0600, its directory 0700 (issue 13).

``flamenco farm`` wrote ``secret_key`` and ``farm-state.json`` (the admin's
token and password) with mode 0644 into a 0755 data dir: any local account,
including a task run by a worker as another user, could read them. Files must
be created with their final mode (not narrowed after writing), whatever the
umask. And ``flamenco server`` must refuse the published default SECRET_KEY
on every address, loopback included.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

from flamenco import defaults
from flamenco.cli import main
from flamenco.farm import bootstrap
from flamenco.farm.farm import Farm, FarmConfig


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: modes must come from the code, not from the environment."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def farm(tmp_path: Path, mongo_uri: str, redis_url: str) -> Farm:
    """A farm on existing stores: nothing is started, only its files are written."""
    config = FarmConfig(data_dir=tmp_path / "farm-data", mongo_uri=mongo_uri, redis_url=redis_url)
    return Farm(config)


def _credentials() -> bootstrap.Credentials:
    return bootstrap.Credentials(username="admin", password="admin-password", token="admin-token",
                                 project_id="p" * 24, manager_id="m" * 24, manager_token="SRV-token")


def test_secret_key_is_private(farm: Farm, open_umask: None) -> None:
    farm.start_stores()
    key_file = farm.data_dir / "secret_key"
    assert _mode(key_file) == 0o600
    assert _mode(farm.data_dir) == 0o700
    assert farm.env["SECRET_KEY"] == key_file.read_text().strip()
    assert len(farm.env["SECRET_KEY"]) >= 32


def test_farm_state_with_admin_password_is_private(farm: Farm, open_umask: None) -> None:
    farm.start_stores()
    farm.creds = _credentials()
    farm.write_state()
    state_file = farm.data_dir / "farm-state.json"
    assert "admin-password" in state_file.read_text()
    assert _mode(state_file) == 0o600
    assert not list(farm.data_dir.glob("*.tmp"))


def test_credentials_and_configs_are_private(farm: Farm, mongo_uri: str, open_umask: None) -> None:
    data_dir = farm.data_dir
    creds = bootstrap.ensure_credentials(mongo_uri, data_dir / "credentials.json", farm.config.manager_url)
    manager_cfg = bootstrap.write_manager_config(data_dir / "manager", farm.config, creds, mongo_uri)
    worker_cfg = bootstrap.write_worker_config(data_dir / "worker-1", farm.config)
    for path in (data_dir / "credentials.json", manager_cfg, worker_cfg):
        assert _mode(path) == 0o600, path
    for directory in (data_dir, manager_cfg.parent, worker_cfg.parent):
        assert _mode(directory) == 0o700, directory
    assert creds.manager_token in manager_cfg.read_text()
    assert len(creds.worker_registration_secret) >= 32, "the farm's manager refuses open registration"
    assert creds.worker_registration_secret in manager_cfg.read_text()
    # The farm registers its workers itself: no worker (and so no task) holds the secret.
    assert creds.worker_registration_secret not in worker_cfg.read_text()


def test_files_an_older_farm_left_readable_are_narrowed(farm: Farm) -> None:
    farm.data_dir.chmod(0o755)
    key_file = farm.data_dir / "secret_key"
    key_file.write_text("k" * 64)
    key_file.chmod(0o644)
    (farm.data_dir / "farm-state.tmp").write_text("{}")
    farm.start_stores()
    farm.creds = _credentials()
    farm.write_state()
    assert farm.env["SECRET_KEY"] == "k" * 64
    assert _mode(key_file) == 0o600
    assert _mode(farm.data_dir / "farm-state.json") == 0o600
    assert _mode(farm.data_dir) == 0o700


def test_a_leftover_temporary_file_does_not_lend_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "secret.json"
    leftover = tmp_path / "secret.json.tmp"
    leftover.write_text("old")
    leftover.chmod(0o666)
    bootstrap.write_private(target, "new secret")
    assert target.read_text() == "new secret"
    assert _mode(target) == 0o600


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "0.0.0.0"])
@pytest.mark.parametrize("secret_key", [defaults.SECRET_KEY, ""])
def test_server_refuses_the_default_secret_key_on_every_address(monkeypatch: pytest.MonkeyPatch, mongo_uri: str,
                                                                redis_url: str, host: str, secret_key: str) -> None:
    import waitress

    served: list = []
    monkeypatch.setattr(waitress, "serve", lambda *args, **kw: served.append((args, kw)))
    env = {"MONGO_URI": mongo_uri, "REDIS_URL": redis_url, "CELERY_ENABLED": "false", "TESTING": "true",
           "SECRET_KEY": secret_key}
    result = CliRunner().invoke(main, ["server", "--host", host, "--port", "1"], env=env)
    assert result.exit_code != 0
    assert "SECRET_KEY" in result.output
    assert served == []


def test_server_serves_with_a_real_secret_key(monkeypatch: pytest.MonkeyPatch, mongo_uri: str,
                                              redis_url: str) -> None:
    import waitress

    served: list = []
    monkeypatch.setattr(waitress, "serve", lambda *args, **kw: served.append((args, kw)))
    env = {"MONGO_URI": mongo_uri, "REDIS_URL": redis_url, "CELERY_ENABLED": "false",
           "SECRET_KEY": "9f" * 32}
    result = CliRunner().invoke(main, ["server", "--host", "127.0.0.1", "--port", "1"], env=env)
    assert result.exit_code == 0, result.output
    assert len(served) == 1
