"""Load the Manager's settings: defaults < YAML file < environment variables.

Every key and its default is in ``defaults.py``. Values are checked against
the type of their default, so a typo or a bad duration is reported at start
with the key and the reason, never as a traceback deep inside a loop.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from flamenco_manager.defaults import CONFIG_FILENAME, DEFAULTS, ENV_PREFIX
from flamenco_manager.variables import VariableError, build_lookup, upgrade_v1

# Duration strings as in Flamenco 2 configs: "10m", "1h30m", "336h", "2.5s".
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# Keys that Flamenco 2 configs have but this manager ignores on purpose.
_IGNORED_KEYS = {"_meta", "mode", "database_path", "listen_https", "tlskey", "tlscert",
                 "acme_domain_name", "shaman", "user_authentication", "websetup",
                 "dynamic_pool_platforms", "watch_for_latest_image", "test_tasks",
                 # Settings of this manager's earlier, multi-process design.
                 "http_threads", "stale_claim_age", "recheck_task_before_assigning"}


class ConfigError(ValueError):
    """A setting has a bad value; the message names the key and the reason."""


def parse_duration(key: str, value: Any) -> float:
    """Seconds from a number or a duration string such as ``"1h30m"``."""
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a duration, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("-")
    parts = _DURATION_PART.findall(body)
    if not parts or "".join(n + u for n, u in parts) != body:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{key}: {value!r} is not a duration (use e.g. 30s, 10m, 336h)") from None
    return sign * sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def _coerce(key: str, default: Any, value: Any) -> Any:
    """Convert ``value`` to the type of ``default``, or raise ConfigError."""
    if isinstance(default, float):
        return parse_duration(key, value)
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if isinstance(default, int):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
    if isinstance(default, str):
        if not isinstance(value, (str, int, float)):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    if isinstance(default, list):
        if isinstance(value, str):
            value = [v for v in re.split(r"[,\s]+", value) if v]
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return value
    if isinstance(default, dict):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as ex:
                raise ConfigError(f"{key}: not valid JSON: {ex}") from None
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported setting type")  # pragma: no cover


class Config:
    """Validated settings; read them as attributes (``config.listen``)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def replace(self, **changes: Any) -> "Config":
        """A copy with some settings changed (validated like any other)."""
        return build_config(self._values | changes)


def build_config(overrides: Mapping[str, Any] | None = None) -> Config:
    """Defaults updated with ``overrides``; unknown keys are an error."""
    values: dict[str, Any] = dict(DEFAULTS)
    for key, value in (overrides or {}).items():
        if key in _IGNORED_KEYS:
            continue
        if key not in DEFAULTS:
            raise ConfigError(f"{key}: unknown setting")
        values[key] = _coerce(key, DEFAULTS[key], value)
    _check_relations(values)
    if "variables" not in (overrides or {}):
        # An old config with only path_replacement overrides the default variables it names.
        values["variables"] = {k: v for k, v in values["variables"].items() if k not in values["path_replacement"]}
    try:
        values["variables"] = upgrade_v1(values["variables"], values["path_replacement"])
        build_lookup(values["variables"])
    except VariableError as ex:
        raise ConfigError(str(ex)) from None
    values["path_replacement"] = {}
    return Config(values)


def _check_relations(values: dict[str, Any]) -> None:
    """Reject combinations that cannot work."""
    for key in ("task_update_push_max_count", "blacklist_threshold", "task_fail_after_softfail_count"):
        if values[key] < 1:
            raise ConfigError(f"{key}: must be at least 1, got {values[key]}")
    if not values["database_url"]:
        raise ConfigError("database_url: must not be empty")
    if not 0 < values["ssdp_port"] < 65536:
        raise ConfigError(f"ssdp_port: expected a UDP port, got {values['ssdp_port']}")
    if ":" not in values["listen"]:
        raise ConfigError(f"listen: expected host:port, got {values['listen']!r}")


def env_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """Settings named by ``FLAMENCO_MANAGER_<KEY>`` environment variables."""
    out = {}
    for name, value in environ.items():
        if name.startswith(ENV_PREFIX) and name != ENV_PREFIX + "CONFIG":
            out[name[len(ENV_PREFIX):].lower()] = value
    return out


def load_config(path: str | os.PathLike | None = None,
                environ: Mapping[str, str] | None = None) -> Config:
    """Read the YAML file (if any), then apply environment overrides.

    ``path`` defaults to ``$FLAMENCO_MANAGER_CONFIG`` or ./flamenco-manager.yaml;
    a missing default file is fine, a missing named file is an error.
    """
    environ = os.environ if environ is None else environ
    named = path or environ.get(ENV_PREFIX + "CONFIG")
    file_path = Path(named) if named else Path(CONFIG_FILENAME)
    from_file: dict[str, Any] = {}
    if file_path.exists():
        try:
            loaded = yaml.safe_load(file_path.read_text()) or {}
        except yaml.YAMLError as ex:
            raise ConfigError(f"{file_path}: not valid YAML: {ex}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{file_path}: expected a mapping of settings")
        from_file = loaded
    elif named:
        raise ConfigError(f"config file {file_path} does not exist")
    return build_config(from_file | env_overrides(environ))
