"""Configuration: INI files, credentials file, environment variables, and their errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from flamenco_worker.config import ConfigError, WorkerConfig, load_config, save_credentials

URL = "http://manager.example:8083/"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    """Environment with a private credentials file, plus FLAMENCO_WORKER_<KEY> values."""
    base = {"FLAMENCO_WORKER_CREDENTIALS_FILE": str(tmp_path / "credentials.cfg")}
    base.update({f"FLAMENCO_WORKER_{key.upper()}": value for key, value in values.items()})
    return base


def test_file_then_credentials_then_environment(tmp_path: Path) -> None:
    config_file = write(tmp_path / "worker.cfg", f"""
[flamenco-worker]
manager_url = {URL}
task_types = sleep  blender-render
may_i_run_interval_seconds = 2.5
push_log_max_entries = 50
worker_id = from-config
""")
    write(tmp_path / "credentials.cfg", "[flamenco-worker]\nworker_id = from-credentials\nworker_secret = s3cret\n")
    config = load_config(config_file, environ=env(tmp_path, push_log_max_entries="7"))
    assert config.manager_url == URL
    assert config.task_types == ("sleep", "blender-render")
    assert config.may_i_run_interval_seconds == 2.5
    assert config.worker_id == "from-credentials"
    assert config.push_log_max_entries == 7, "the environment wins over files"
    assert config.redacted()["worker_secret"] == "-hidden-"


def test_interpolation(tmp_path: Path) -> None:
    config_file = write(tmp_path / "worker.cfg", f"""
[flamenco-worker]
manager_url = {URL}
task_update_queue_db = {tmp_path}/${{nickname}}.db
nickname = node7
""")
    assert load_config(config_file, environ=env(tmp_path)).task_update_queue_db == tmp_path / "node7.db"


def test_empty_manager_url_means_discover(tmp_path: Path) -> None:
    config_file = write(tmp_path / "worker.cfg", "[flamenco-worker]\nmanager_url =\nssdp_rounds = 2\n")
    config = load_config(config_file, environ=env(tmp_path))
    assert config.manager_url == "", "an empty manager_url is looked up with SSDP at start-up"
    assert config.ssdp_rounds == 2


@pytest.mark.parametrize("text, message", [
    ("manager_url = {url}\nmanager_ur = typo", "unknown key(s) in [flamenco-worker]: manager_ur"),
    ("manager_url = {url}\nmay_i_run_interval_seconds = often", "may_i_run_interval_seconds: 'often'"),
    ("manager_url = {url}\npush_log_max_entries = -3", "push_log_max_entries"),
    ("manager_url = 'http://quoted/'", "must not be quoted"),
    ("manager_url = manager:8083", "must be an http:// or https:// URL"),
    ("manager_url = [broken", "manager_url must be an http"),
])
def test_invalid_values_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    config_file = write(tmp_path / "worker.cfg", "[flamenco-worker]\n" + text.format(url=URL) + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(config_file, environ=env(tmp_path))
    assert message in str(caught.value)


@pytest.mark.parametrize("content", [
    b"no section header\n",
    b"[flamenco-worker]\nmanager_url = ${nowhere}\n",
    b"[flamenco-worker]\nnickname = \xff\xfe\n",
])
def test_unreadable_ini_is_a_config_error(tmp_path: Path, content: bytes) -> None:
    config_file = tmp_path / "worker.cfg"
    config_file.write_bytes(content)
    with pytest.raises(ConfigError, match="worker.cfg"):
        load_config(config_file, environ=env(tmp_path))


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.cfg", environ=env(tmp_path))


def test_environment_alone_is_enough(tmp_path: Path) -> None:
    config = load_config(environ=env(tmp_path, manager_url=URL, nickname="envy"))
    assert (config.manager_url, config.nickname) == (URL, "envy")


def test_save_credentials_keeps_other_keys(tmp_path: Path) -> None:
    credentials = write(tmp_path / "credentials.cfg", "[flamenco-worker]\nnickname = keeper\n")
    config = WorkerConfig(manager_url=URL, credentials_file=credentials)
    updated = save_credentials(config, "d" * 24, "secret")
    assert (updated.worker_id, updated.worker_secret) == ("d" * 24, "secret")
    reloaded = load_config(environ=env(tmp_path, manager_url=URL))
    assert (reloaded.worker_id, reloaded.worker_secret, reloaded.nickname) == ("d" * 24, "secret", "keeper")
    assert [p.name for p in tmp_path.iterdir()] == ["credentials.cfg"], "no temp file left behind"
