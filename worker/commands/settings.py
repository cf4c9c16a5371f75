"""Declarative validation of command settings.

Each command declares ``settings_spec = {"key": Setting(...)}``. This is
hand-written rather than a library (pydantic, cerberus) because a render node
installs only the worker's small dependency set (stdlib, httpx, psutil,
pyyaml, click), and the rules are few: a type, required or a default,
non-empty strings, a minimum, a fixed set of choices.

Validation never touches the filesystem: inputs of a command are often made
by an earlier command of the same task, so their existence is checked when
the command runs (Flamenco 2 created directories during validation; D.2.11).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

# A ``type`` accepted by Setting: a Python type or a tuple of them, as for isinstance().
SettingType = type | tuple[type, ...]

NUMBER: tuple[type, ...] = (int, float)
"""Settings such as ``fps`` or ``time_in_seconds`` accept ints and floats."""


@dataclasses.dataclass(frozen=True)
class Setting:
    """The rules for one setting."""

    type: SettingType = str
    required: bool = False
    default: Any = None
    non_empty: bool = False
    """For strings: reject "" and whitespace-only values."""
    minimum: float | None = None
    choices: tuple[Any, ...] | None = None
    forbidden_chars: str = ""
    """Characters that would break a generated script, e.g. a double quote."""


def _type_name(kind: SettingType) -> str:
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind)
    return kind.__name__


def _is_instance(value: Any, kind: SettingType) -> bool:
    """isinstance(), except that a bool is not accepted as a number."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False
    return isinstance(value, kinds)


def _check_value(key: str, value: Any, rule: Setting, error: Callable[[str, str], Exception]) -> None:
    if not _is_instance(value, rule.type):
        raise error(key, f"must be a {_type_name(rule.type)}, not {type(value).__name__}")
    if rule.non_empty and isinstance(value, str) and not value.strip():
        raise error(key, "must not be empty")
    if rule.minimum is not None and value < rule.minimum:
        raise error(key, f"must be at least {rule.minimum:g}, not {value}")
    if rule.choices is not None and value not in rule.choices:
        raise error(key, f"must be one of {', '.join(map(str, rule.choices))}; not {value!r}")
    bad = sorted({c for c in rule.forbidden_chars if c in str(value)})
    if bad:
        raise error(key, f"must not contain {' '.join(bad)}")


def validate_settings(
    spec: dict[str, Setting],
    settings: dict[str, Any],
    error: Callable[[str, str], Exception],
) -> dict[str, Any]:
    """Return a new dict of the settings in ``spec``, defaults filled in.

    ``settings`` is not modified (Flamenco 2 wrote defaults into it). Keys
    not in ``spec`` are ignored, so newer servers may send extra settings.
    """
    validated: dict[str, Any] = {}
    for key, rule in spec.items():
        value = settings.get(key)
        if value is None:
            if rule.required:
                raise error(key, "is required")
            validated[key] = rule.default
            continue
        _check_value(key, value, rule, error)
        validated[key] = value
    return validated
