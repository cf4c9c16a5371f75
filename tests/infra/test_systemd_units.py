"""The production deployment files in deploy/ are valid and agree with the code.

- Every systemd unit passes ``systemd-analyze verify`` *without a single
  warning*: verify exits 0 for a misspelt key or a bad value ("..., ignoring"),
  so the check is a clean run, and each test shows a broken copy failing it.
  The units name /opt/flamenco/venv/bin/...; verify checks that the executable
  exists, so the tests verify copies pointing at this virtualenv's scripts.
- Each unit's command line is accepted by the real CLI it starts.
- The users the units run as are the ones deploy/sysusers.d creates.
- The example files of deploy/etc/flamenco load with the components' own
  config loaders, and the worker template's per-instance variables take effect.
"""
from __future__ import annotations

import shlex
import shutil
import socket
import subprocess
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from flamenco import app as server_app
from flamenco.manager_api import defaults as api_defaults
from flamenco_manager import config as manager_config
from flamenco_worker import config as worker_config

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
UNIT_DIR = DEPLOY / "systemd"
SYSUSERS_DIR = DEPLOY / "sysusers.d"
EXAMPLE_ETC = DEPLOY / "etc" / "flamenco"
UNITS = sorted(p.name for p in UNIT_DIR.glob("*.service"))
# Where the units expect the installation (docs/production.md).
INSTALLED_BIN = "/opt/flamenco/venv/bin/"
# systemd's specifiers in system units, as the units use them.
SPECIFIERS = {"%E": "/etc", "%S": "/var/lib", "%H": socket.gethostname(), "%i": "1", "%%": "%"}
# An instance of the worker template, verified besides the template itself so that %i is expanded.
TEMPLATE_INSTANCE = "flamenco-worker@1.service"
# Characters that systemd or a shell would interpret in a bare EnvironmentFile value.
SHELL_SPECIAL = "\"'\\$ \t&;|<>()`"
# Each CLI run below imports the server or Celery app; generous for a busy 2-core machine.
CLI_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Setting:
    section: str
    key: str
    value: str


def unit_settings(text: str) -> list[Setting]:
    """Every ``Key=value`` of a unit file, in order (keys such as Environment= repeat)."""
    settings, section = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.append(Setting(section, key.strip(), value.strip()))
    return settings


def values(unit: str, key: str) -> list[str]:
    return [s.value for s in unit_settings((UNIT_DIR / unit).read_text()) if s.key == key]


def expand(text: str) -> str:
    for specifier, value in SPECIFIERS.items():
        text = text.replace(specifier, value)
    return text


def local_copy(unit: str, directory: Path, text: str | None = None) -> Path:
    """``unit`` (or ``text`` under its name) in ``directory``, running this virtualenv's scripts."""
    scripts = sysconfig.get_path("scripts").rstrip("/") + "/"
    text = (UNIT_DIR / unit).read_text() if text is None else text
    path = directory / unit
    path.write_text(text.replace(INSTALLED_BIN, scripts))
    return path


def verify(path: Path) -> str:
    """``systemd-analyze verify``'s complaints about ``path``; empty when it is clean."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: `./dev setup` installs the Debian package systemd"
    result = subprocess.run([analyze, "verify", "--man=no", str(path)], capture_output=True, text=True,
                            timeout=CLI_TIMEOUT_SECONDS, cwd=path.parent)
    complaints = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        complaints += f"\n(exit status {result.returncode})"
    return complaints


def test_the_deploy_directory_has_every_unit() -> None:
    assert UNITS == ["flamenco-celery-beat.service", "flamenco-celery.service", "flamenco-manager.service",
                     "flamenco-server.service", "flamenco-worker.service", "flamenco-worker@.service"]


@pytest.mark.parametrize("unit", UNITS)
def test_unit_passes_systemd_analyze_verify(unit: str, tmp_path: Path) -> None:
    assert verify(local_copy(unit, tmp_path)) == ""
    # The check is known to catch a broken unit: a misspelt hardening key only
    # makes verify warn and exit 0, a missing executable makes it fail.
    text = (UNIT_DIR / unit).read_text()
    broken = tmp_path / "broken"
    broken.mkdir()
    assert "Unknown key 'ProtectSystm'" in verify(local_copy(unit, broken, text.replace("ProtectSystem=",
                                                                                       "ProtectSystm=")))
    assert "is not executable" in verify(local_copy(unit, broken, text.replace(INSTALLED_BIN, "/nonexistent/")))


def test_worker_template_instance_passes_verify(tmp_path: Path) -> None:
    template = local_copy("flamenco-worker@.service", tmp_path)
    (tmp_path / TEMPLATE_INSTANCE).symlink_to(template.name)
    assert verify(tmp_path / TEMPLATE_INSTANCE) == ""


@pytest.mark.parametrize("unit", UNITS)
def test_unit_command_line_is_accepted_by_its_program(unit: str) -> None:
    """``--help`` after the unit's arguments: click refuses an unknown option or command before helping."""
    (exec_start,) = values(unit, "ExecStart")
    argv = shlex.split(expand(exec_start))
    assert argv[0].startswith(INSTALLED_BIN)
    argv[0] = sysconfig.get_path("scripts") + "/" + argv[0].removeprefix(INSTALLED_BIN)
    result = subprocess.run([*argv, "--help"], capture_output=True, text=True, timeout=CLI_TIMEOUT_SECONDS)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Usage:" in result.stdout


def test_units_run_as_the_users_sysusers_creates(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    confs = sorted(str(p) for p in SYSUSERS_DIR.glob("*.conf"))
    subprocess.run(["systemd-sysusers", f"--root={tmp_path}", *confs], check=True, capture_output=True,
                   timeout=CLI_TIMEOUT_SECONDS)
    homes = {line.split(":")[0]: line.split(":")[5] for line in (tmp_path / "etc/passwd").read_text().splitlines()}
    groups = {line.split(":")[0] for line in (tmp_path / "etc/group").read_text().splitlines()}
    for unit in UNITS:
        (user,), (group,) = values(unit, "User"), values(unit, "Group")
        assert user in homes and group in groups, unit
        # The user's home is the unit's state directory: Blender and friends write there.
        state = values(unit, "StateDirectory")[0].split("/")[0]
        assert homes[user] == f"/var/lib/{state}", unit


def env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines as systemd's EnvironmentFile= reads them, for the plain syntax the examples use.

    A value is either bare (none of :data:`SHELL_SPECIAL`, which systemd or a
    shell would interpret) or wholly in single quotes, which both strip.
    """
    env = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and key.isidentifier(), f"{path.name}: {line!r}"
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
            assert "'" not in value, f"{path.name}: {line!r}"
        else:
            assert not set(value) & set(SHELL_SPECIAL), f"{path.name}: quote {key}'s value in single quotes"
        env[key] = value
    return env


@pytest.mark.parametrize("name", ["server.env", "manager.env", "worker.env"])
def test_env_examples_read_the_same_in_a_shell(name: str) -> None:
    """docs/production.md runs admin commands with ``set -a; . server.env``: a shell must see the same values."""
    result = subprocess.run(["sh", "-c", 'set -a; . "$1"; exec env -0', "sh", str(EXAMPLE_ETC / name)],
                            env={}, capture_output=True, text=True, check=True, timeout=CLI_TIMEOUT_SECONDS)
    seen = dict(item.split("=", 1) for item in result.stdout.split("\0") if item)
    expected = env_file(EXAMPLE_ETC / name)
    assert {key: seen.get(key) for key in expected} == expected


def test_units_read_the_example_files() -> None:
    """Every /etc/flamenco file a unit names has its example in deploy/etc/flamenco."""
    named = set()
    for unit in UNITS:
        named.update(Path(v.lstrip("-")).name for v in values(unit, "EnvironmentFile"))
        named.update(Path(arg).name for arg in shlex.split(expand(values(unit, "ExecStart")[0]))
                     if arg.startswith("/etc/flamenco/"))
    assert named == {p.name for p in EXAMPLE_ETC.iterdir()}


def test_server_env_example_sets_only_settings_the_server_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    env = env_file(EXAMPLE_ETC / "server.env")
    unknown = set(env) - set(server_app.CONFIG_KEYS) - {api_defaults.STORAGE_DIR_ENV}
    assert not unknown, f"server.env sets variables nothing reads: {unknown}"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    cfg = server_app.load_config()
    assert cfg["PORT"] == 8080 and cfg["SESSION_COOKIE_SECURE"] is True
    assert cfg["WEBHOOK_ALLOWED_HOSTS"] == ["*.example.com"]
    # Shipped empty, so `flamenco server` refuses to start until one is set.
    assert cfg["SECRET_KEY"] == ""


def test_manager_examples_load(tmp_path: Path) -> None:
    env = env_file(EXAMPLE_ETC / "manager.env")
    assert all(key.startswith("FLAMENCO_MANAGER_") for key in env)
    config = manager_config.load_config(EXAMPLE_ETC / "flamenco-manager.yaml", environ=env)
    assert config.listen == "0.0.0.0:8083"
    assert config.database_url == env["FLAMENCO_MANAGER_DATABASE_URL"]
    assert set(config.variables) == {"blender", "ffmpeg", "job_storage", "render"}
    # No secret in the world-readable YAML file: they all come from manager.env.
    in_yaml = yaml.safe_load((EXAMPLE_ETC / "flamenco-manager.yaml").read_text())
    assert not set(in_yaml) & {"manager_secret", "worker_registration_secret", "dashboard_password", "database_url"}


def test_worker_examples_load_with_the_template_instance_paths() -> None:
    cfg = EXAMPLE_ETC / "flamenco-worker.cfg"
    single = worker_config.load_config(cfg, environ=env_file(EXAMPLE_ETC / "worker.env"))
    assert single.credentials_file == Path("/var/lib/flamenco-worker/credentials.cfg")
    assert single.pre_task_check_write == (Path("/shared/flamenco/render"),)

    instance_env: dict[str, str] = {}
    for assignment in values("flamenco-worker@.service", "Environment"):
        instance_env.update(item.split("=", 1) for item in shlex.split(expand(assignment)))
    instance = worker_config.load_config(cfg, environ=instance_env)
    assert instance.credentials_file == Path("/var/lib/flamenco-worker/1/credentials.cfg")
    assert instance.task_update_queue_db == Path("/var/lib/flamenco-worker/1/flamenco-worker.db")
    assert instance.nickname == f"{socket.gethostname()}-1"
    assert instance_env["HOME"] == "/var/lib/flamenco-worker/1"

