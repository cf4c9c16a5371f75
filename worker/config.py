"""The worker's configuration: INI files as in Flamenco 2, then environment variables.

Order (later wins): ``./flamenco-worker.cfg`` (or the one ``-c`` file), the
credentials file written by registration (``~/.flamenco-worker.cfg``), then
``FLAMENCO_WORKER_<KEY>`` environment variables. Every key is a field of
:class:`WorkerConfig`; its default lives in :mod:`flamenco_worker.defaults`.
"""
from __future__ import annotations

import configparser
import dataclasses
import logging.config
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

from flamenco_worker import defaults
from flamenco_worker.commands import oom

log = logging.getLogger(__name__)


class ConfigError(Exception):
    """The configuration is missing a value or has an invalid one; the message names the key."""


@dataclasses.dataclass(frozen=True)
class WorkerConfig:
    """Everything the worker reads from its configuration."""

    manager_url: str = ""
    worker_id: str = ""
    worker_secret: str = ""
    worker_registration_secret: str = ""
    nickname: str = ""
    """Shown on the manager's dashboard; empty means the host name."""
    task_types: tuple[str, ...] = defaults.TASK_TYPES
    tags: tuple[str, ...] = defaults.TAGS
    """Advertised to the manager; space-separated in files and the environment, lower-cased."""
    task_update_queue_db: Path = defaults.TASK_UPDATE_QUEUE_DB
    credentials_file: Path = defaults.CREDENTIALS_FILE
    pre_task_check_read: tuple[Path, ...] = ()
    """Paths that must be readable before a task is fetched (``os.pathsep``-separated in the
    environment; ``read.<name>`` keys of a ``[pre_task_check]`` section in a file)."""
    pre_task_check_write: tuple[Path, ...] = ()
    """Paths that must be writable before a task is fetched (``write.<name>`` keys)."""
    subprocess_pid_file: Path | None = None
    """When set, commands run at most one subprocess per PID file (see the commands' config)."""
    http_timeout_seconds: float = defaults.HTTP_TIMEOUT_SECONDS
    task_fetch_timeout_seconds: float = defaults.TASK_FETCH_TIMEOUT_SECONDS
    register_retry_seconds: float = defaults.REGISTER_RETRY_SECONDS
    fetch_retry_after_error_seconds: float = defaults.FETCH_RETRY_AFTER_ERROR_SECONDS
    fetch_retry_no_task_seconds: float = defaults.FETCH_RETRY_NO_TASK_SECONDS
    fetch_after_task_seconds: float = defaults.FETCH_AFTER_TASK_SECONDS
    error_state_seconds: float = defaults.ERROR_STATE_SECONDS
    uncaught_retry_seconds: float = defaults.UNCAUGHT_RETRY_SECONDS
    asleep_poll_seconds: float = defaults.ASLEEP_POLL_SECONDS
    may_i_run_interval_seconds: float = defaults.MAY_I_RUN_INTERVAL_SECONDS
    queue_backpressure_updates: int = defaults.QUEUE_BACKPRESSURE_UPDATES
    queue_backpressure_bytes: int = defaults.QUEUE_BACKPRESSURE_BYTES
    queue_backpressure_recheck_seconds: float = defaults.QUEUE_BACKPRESSURE_RECHECK_SECONDS
    queue_backoff_seconds: float = defaults.QUEUE_BACKOFF_SECONDS
    push_act_max_interval_seconds: float = defaults.PUSH_ACT_MAX_INTERVAL_SECONDS
    push_log_max_interval_seconds: float = defaults.PUSH_LOG_MAX_INTERVAL_SECONDS
    push_log_max_entries: int = defaults.PUSH_LOG_MAX_ENTRIES
    output_produced_interval_seconds: float = defaults.OUTPUT_PRODUCED_INTERVAL_SECONDS
    shutdown_flush_timeout_seconds: float = defaults.SHUTDOWN_FLUSH_TIMEOUT_SECONDS
    terminate_grace_seconds: float = defaults.TERMINATE_GRACE_SECONDS
    oom_score_adj: int = defaults.OOM_SCORE_ADJ
    """Raised OOM score of every command's subprocess, so the kernel kills the render, not the worker."""
    ssdp_port: int = defaults.SSDP_PORT
    ssdp_round_seconds: float = defaults.SSDP_ROUND_SECONDS
    ssdp_rounds: int = defaults.SSDP_ROUNDS
    ssdp_multicast_ttl: int = defaults.SSDP_MULTICAST_TTL

    @property
    def has_credentials(self) -> bool:
        return bool(self.worker_id and self.worker_secret)

    def redacted(self) -> dict[str, Any]:
        """The settings for printing (``--verbose``), secrets hidden."""
        shown = dataclasses.asdict(self)
        for key in ("worker_secret", "worker_registration_secret"):
            if shown[key]:
                shown[key] = "-hidden-"
        return shown


_FIELDS = {f.name: f for f in dataclasses.fields(WorkerConfig)}

PRE_TASK_CHECK_SECTION = "pre_task_check"
"""Flamenco 2's INI section of paths to check before fetching a task."""


def _convert_oom_score_adj(raw: str) -> int:
    """The one signed setting, in the kernel's range -1000..1000."""
    try:
        value: int | None = int(raw)
    except ValueError:
        value = None
    if value is None or not oom.OOM_SCORE_ADJ_MIN <= value <= oom.OOM_SCORE_ADJ_MAX:
        raise ConfigError(f"oom_score_adj: {raw!r} is not an integer from {oom.OOM_SCORE_ADJ_MIN} "
                          f"to {oom.OOM_SCORE_ADJ_MAX} (0 disables the OOM guard)")
    return value


def _convert(key: str, raw: str) -> Any:
    """Turn the text of ``key`` from a file or the environment into its field's type."""
    kind = _FIELDS[key].type
    raw = raw.strip()
    if key == "oom_score_adj":
        return _convert_oom_score_adj(raw)
    if key == "tags":  # the manager checks each tag and names a bad one when the worker registers
        return tuple(dict.fromkeys(tag.lower() for tag in raw.split()))
    try:
        if kind == "float":
            value: Any = float(raw)
            if value < 0:
                raise ValueError("must not be negative")
            return value
        if kind == "int":
            value = int(raw)
            if value < 0:
                raise ValueError("must not be negative")
            return value
    except ValueError as ex:
        raise ConfigError(f"{key}: {raw!r} is not a valid non-negative number ({ex})") from None
    if kind == "tuple[str, ...]":
        return tuple(raw.split())
    if kind == "tuple[Path, ...]":
        return tuple(Path(part).expanduser() for part in raw.split(os.pathsep) if part)
    if kind == "Path":
        return Path(raw).expanduser()
    if kind == "Path | None":
        return Path(raw).expanduser() if raw else None
    return raw


def _read_ini(path: Path) -> dict[str, str]:
    """The ``[flamenco-worker]`` keys of one INI file; unknown keys are an error."""
    parser = configparser.ConfigParser(interpolation=configparser.ExtendedInterpolation())
    try:
        with path.open(encoding="utf-8") as fh:
            parser.read_file(fh)
        section = dict(parser[defaults.CONFIG_SECTION]) if parser.has_section(defaults.CONFIG_SECTION) else {}
    except (configparser.Error, UnicodeDecodeError, OSError) as ex:
        raise ConfigError(f"{path}: {ex}") from None
    unknown = sorted(set(section) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) in [{defaults.CONFIG_SECTION}]: {', '.join(unknown)}")
    if parser.has_section(PRE_TASK_CHECK_SECTION):
        section.update(_pre_task_checks(path, dict(parser[PRE_TASK_CHECK_SECTION])))
    if parser.has_section("loggers"):
        logging.config.fileConfig(parser, disable_existing_loggers=False)
    return section


def _pre_task_checks(path: Path, section: dict[str, str]) -> dict[str, str]:
    """Flamenco 2's ``[pre_task_check]`` section (``read.<name>`` / ``write.<name>``) as two keys."""
    paths: dict[str, list[str]] = {"read": [], "write": []}
    for key, value in section.items():
        kind, dot, _ = key.partition(".")
        if not dot or kind not in paths:
            raise ConfigError(f"{path}: [{PRE_TASK_CHECK_SECTION}] key {key!r} must start with 'read.' or 'write.'")
        paths[kind].append(value.strip())
    return {f"pre_task_check_{kind}": os.pathsep.join(values) for kind, values in paths.items() if values}


def _read_env(environ: Mapping[str, str]) -> dict[str, str]:
    return {
        key: environ[defaults.ENV_PREFIX + key.upper()]
        for key in _FIELDS
        if defaults.ENV_PREFIX + key.upper() in environ
    }


def check_manager_url(url: str) -> None:
    """Reject manager URLs that cannot work, with the reason (Flamenco 2.3.1's checks).

    An empty URL is fine: the worker then looks for its manager with SSDP (``ssdp.py``).
    """
    if not url:
        return
    if url[0] in "'\"":
        raise ConfigError(f"manager_url must not be quoted: {url}")
    if "://" not in url or not url.startswith("http"):
        raise ConfigError(f"manager_url must be an http:// or https:// URL, not {url!r}")


def load_config(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> WorkerConfig:
    """Read the configuration files, the credentials file and the environment.

    ``config_file`` is the ``-c`` file, which must exist; without it
    ``./flamenco-worker.cfg`` is read when present. ``overrides`` (already
    typed values, e.g. from command-line flags) win over everything.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError(f"config file {config_file} does not exist")
        values.update(_read_ini(config_file))
    elif defaults.CONFIG_FILE.is_file():
        values.update(_read_ini(defaults.CONFIG_FILE))
    env_values = _read_env(environ)
    credentials = Path(env_values.get("credentials_file") or values.get("credentials_file")
                       or defaults.CREDENTIALS_FILE).expanduser()
    if credentials.is_file():
        values.update(_read_ini(credentials))
    values.update(env_values)
    typed = {key: _convert(key, raw) for key, raw in values.items()}
    typed.update(overrides or {})
    config = WorkerConfig(**typed)
    check_manager_url(config.manager_url)
    return config


def save_credentials(config: WorkerConfig, worker_id: str, worker_secret: str) -> WorkerConfig:
    """Write the credentials file atomically (temp file + replace, owner-only) and return the new config.

    Other keys already in the credentials file are kept.
    """
    path = config.credentials_file.expanduser()
    parser = configparser.ConfigParser(interpolation=None)
    if path.is_file():
        parser.read(path, encoding="utf-8")
    if not parser.has_section(defaults.CONFIG_SECTION):
        parser.add_section(defaults.CONFIG_SECTION)
    parser[defaults.CONFIG_SECTION]["worker_id"] = worker_id
    parser[defaults.CONFIG_SECTION]["worker_secret"] = worker_secret
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            parser.write(fh)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    log.info("wrote worker credentials to %s", path)
    return dataclasses.replace(config, worker_id=worker_id, worker_secret=worker_secret)
