"""Validation of job settings, shared by the compilers; errors name the field and the reason."""
from __future__ import annotations

import math
import numbers
from typing import Any, Literal, Mapping, overload

from flamenco import frame_ranges


class JobSettingsError(ValueError):
    """Invalid job: ``field`` (e.g. ``settings.frames``) and a human-readable ``reason``.

    HTTP layers turn it into a 4xx ``{field: reason}``; construction turns it
    into ``construction-failed`` with the message as status reason.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def settings_of(job: Mapping[str, Any]) -> Mapping[str, Any]:
    """The job's ``settings`` dict, or an error when it is absent or not a dict."""
    settings = job.get("settings")
    if not isinstance(settings, Mapping):
        raise JobSettingsError("settings", "must be an object with the job type's settings")
    return settings


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@overload
def require_string(settings: Mapping[str, Any], name: str, *, required: Literal[True] = ...) -> str: ...
@overload
def require_string(settings: Mapping[str, Any], name: str, *, required: bool) -> str | None: ...


def require_string(settings: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    """A non-empty string setting (None when optional and absent)."""
    value = settings.get(name)
    if value is None:
        if required:
            raise JobSettingsError(f"settings.{name}", "is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise JobSettingsError(f"settings.{name}", f"must be a non-empty string, got {_describe(value)}")
    return value


@overload
def require_number(settings: Mapping[str, Any], name: str, *, required: Literal[True] = ...,
                   minimum: float = ...) -> float: ...
@overload
def require_number(settings: Mapping[str, Any], name: str, *, required: bool, minimum: float = ...) -> float | None: ...


def require_number(settings: Mapping[str, Any], name: str, *, required: bool = True,
                   minimum: float = 0) -> float | None:
    """A real-number setting >= ``minimum`` (booleans are not numbers here)."""
    value = settings.get(name)
    if value is None:
        if required:
            raise JobSettingsError(f"settings.{name}", "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise JobSettingsError(f"settings.{name}", f"must be a finite number, got {_describe(value)}")
    if value < minimum:
        raise JobSettingsError(f"settings.{name}", f"must be at least {minimum}, got {value}")
    return float(value)


def require_int(settings: Mapping[str, Any], name: str, *, minimum: int = 1) -> int:
    """A required integer setting >= ``minimum``."""
    value = settings.get(name)
    if value is None:
        raise JobSettingsError(f"settings.{name}", "is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise JobSettingsError(f"settings.{name}", f"must be an integer, got {_describe(value)}")
    if value < minimum:
        raise JobSettingsError(f"settings.{name}", f"must be at least {minimum}, got {value}")
    return value


def require_bool(settings: Mapping[str, Any], name: str) -> bool:
    value = settings.get(name)
    if value is None:
        raise JobSettingsError(f"settings.{name}", "is required")
    if not isinstance(value, bool):
        raise JobSettingsError(f"settings.{name}", f"must be true or false, got {_describe(value)}")
    return value


def require_frames(settings: Mapping[str, Any], name: str = "frames") -> list[int]:
    """The frames of the frame-range setting, sorted and without duplicates.

    The range is counted before it is listed, so a huge one is refused cheaply.
    """
    value = settings.get(name)
    if value is None:
        raise JobSettingsError(f"settings.{name}", "is required")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    try:
        return frame_ranges.parse_frame_range(value).frames()
    except frame_ranges.FrameRangeError as ex:
        raise JobSettingsError(f"settings.{name}", str(ex)) from None


def require_string_list(settings: Mapping[str, Any], name: str) -> list[str]:
    """An optional list-of-strings setting (empty when absent)."""
    value = settings.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise JobSettingsError(f"settings.{name}", "must be a list of strings")
    return value


@overload
def require_choice(settings: Mapping[str, Any], name: str, choices: tuple[str, ...], *,
                   required: Literal[True] = ...) -> str: ...
@overload
def require_choice(settings: Mapping[str, Any], name: str, choices: tuple[str, ...], *,
                   required: bool) -> str | None: ...


def require_choice(settings: Mapping[str, Any], name: str, choices: tuple[str, ...], *,
                   required: bool = True) -> str | None:
    value = require_string(settings, name, required=required)
    if value is not None and value not in choices:
        raise JobSettingsError(f"settings.{name}", f"must be one of {', '.join(choices)}, got {_describe(value)}")
    return value
