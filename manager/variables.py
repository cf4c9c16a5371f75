"""Path variables: ``{name}`` in command settings, expanded per platform and audience.

Improves on the original (reference D.1.10): expansion reaches strings inside
lists and nested objects (argument vectors), and it is a single deterministic
pass, so a value that itself contains ``{x}`` is left as it is.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

AUDIENCES = ("workers", "users")
DIRECTIONS = ("oneway", "twoway")
PLATFORMS = ("linux", "windows", "darwin")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

# audience -> platform -> name -> value
Lookup = dict[str, dict[str, dict[str, str]]]
# Variables whose values are the programs tasks may start (flamenco_manager.executables):
# only this Manager's own config file sets them, never the Server.
PROGRAM_VARIABLES = ("blender", "ffmpeg")


class VariableError(ValueError):
    """A variable definition in the config is invalid."""


def upgrade_v1(variables: Mapping[str, Any], path_replacement: Mapping[str, Any]) -> dict[str, Any]:
    """Flamenco 2.0-2.4 settings in the v2 model (reference A.6.1).

    A v1 variable is ``{name: {platform: value}}`` (one-way, every audience);
    ``path_replacement`` entries are the same shape and become two-way. A name
    in both is refused, instead of one silently overwriting the other (D.1.1).
    """
    def is_v1(spec: Any) -> bool:
        return isinstance(spec, Mapping) and "values" not in spec and "direction" not in spec

    clash = set(variables) & set(path_replacement)
    if clash:
        raise VariableError(f"path_replacement: {', '.join(sorted(clash))} also defined in variables")
    out: dict[str, Any] = {}
    for source, direction in ((variables, "oneway"), (path_replacement, "twoway")):
        for name, spec in source.items():
            if is_v1(spec):
                spec = {"direction": direction,
                        "values": [{"platform": platform, "value": value} for platform, value in spec.items()]}
            out[name] = spec
    return out


def build_lookup(variables: Mapping[str, Any]) -> Lookup:
    """Check the ``variables`` setting and index it by audience and platform."""
    lookup: Lookup = {a: {} for a in AUDIENCES}
    for name, spec in variables.items():
        if not isinstance(spec, Mapping):
            raise VariableError(f"variables.{name}: expected a mapping with direction and values")
        direction = spec.get("direction", "oneway")
        if direction not in DIRECTIONS:
            raise VariableError(f"variables.{name}.direction: must be oneway or twoway, got {direction!r}")
        for i, value in enumerate(spec.get("values") or []):
            where = f"variables.{name}.values[{i}]"
            platforms = list(value.get("platforms") or [])
            if value.get("platform"):
                platforms.append(value["platform"])
            if not platforms:
                raise VariableError(f"{where}: needs platform or platforms")
            audience = value.get("audience", "all")
            if audience not in (*AUDIENCES, "all"):
                raise VariableError(f"{where}.audience: must be all, workers or users, got {audience!r}")
            text = str(value.get("value", ""))
            if direction == "twoway":
                text = text.rstrip("/")
            for aud in AUDIENCES if audience == "all" else (audience,):
                for platform in platforms:
                    lookup[aud].setdefault(platform.lower(), {})[name] = text
    return lookup


def expand(value: Any, replacements: Mapping[str, str]) -> Any:
    """``value`` with every known ``{name}`` replaced, recursing into lists and dicts."""
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: replacements.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [expand(v, replacements) for v in value]
    if isinstance(value, dict):
        return {k: expand(v, replacements) for k, v in value.items()}
    return value


def expand_commands(commands: list[dict], lookup: Lookup, platform: str,
                    audience: str = "workers") -> list[dict]:
    """The task's commands with their settings expanded for one worker platform."""
    replacements = lookup.get(audience, {}).get((platform or "").lower(), {})
    return [{**cmd, "settings": expand(cmd.get("settings") or {}, replacements)} for cmd in commands]


def in_use(file_variables: Mapping[str, Any], server_variables: Mapping[str, Any] | None) -> dict[str, Any]:
    """The variables this Manager runs with: the Server's set replaces the file's, whole
    (an admin removing a variable there removes it here), except the program variables,
    which keep the file's values (``flamenco_manager.server_settings``)."""
    if server_variables is None:
        return dict(file_variables)
    return {**{k: v for k, v in server_variables.items() if k not in PROGRAM_VARIABLES},
            **{k: v for k, v in file_variables.items() if k in PROGRAM_VARIABLES}}
