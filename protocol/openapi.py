"""Building blocks shared by the server's and the Manager's OpenAPI descriptions.

Both turn their routes into OpenAPI paths the same way and answer errors in
one JSON shape. The server (``flamenco.openapi``) walks its Flask app's URL
map; the Manager (``flamenco_manager.openapi``) its aiohttp routes, written
in the same placeholder syntax. Standard library only, like the rest of
``flamenco_protocol``: reading werkzeug's rule objects stays in the server.
"""
from __future__ import annotations

import re

OPENAPI_VERSION = "3.0.3"
# werkzeug's placeholder syntax: <name>, <conv:name>, <conv(args):name>.
_PLACEHOLDER = re.compile(r"<(?:(?P<conv>[a-zA-Z_]+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>")


def openapi_path(rule: str) -> str:
    """``/api/jobs/<regex("[a-f0-9]{24}"):_id>`` -> ``/api/jobs/{_id}``."""
    return _PLACEHOLDER.sub(lambda m: "{" + m.group("name") + "}", rule)


def path_shape(path: str) -> str:
    """A path with parameter names erased, to match routes whatever their names."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def path_parameters(rule: str, names: list[str] | None = None) -> list[dict]:
    """OpenAPI path parameters from the rule's placeholders and converters,
    renamed to ``names`` when given (see :class:`PathTable`)."""
    params = []
    for index, match in enumerate(_PLACEHOLDER.finditer(rule)):
        schema: dict = {"type": "string"}
        conv, args = match.group("conv"), match.group("args")
        if conv == "int":
            schema = {"type": "integer", "minimum": 0}
        elif conv == "regex" and args:
            schema["pattern"] = "^" + args.strip().strip("'\"").replace('\\\\', '\\') + "$"
        else:
            # werkzeug's default converter matches one path segment, at least one character.
            schema["pattern"] = "^[^/]+$"
        name = names[index] if names else match.group("name")
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def parameter_names(path: str) -> list[str]:
    """The placeholder names of an OpenAPI path, in order."""
    return re.findall(r"\{([^}]*)\}", path)


class PathTable:
    """OpenAPI paths of an app's rules, one path string per path shape.

    Rules are written in werkzeug's placeholder syntax (``/jobs/<_id>``).
    OpenAPI treats ``/jobs/{_id}`` and ``/jobs/{object_id}`` as the same path
    and forbids both; two blueprints routing the same URL with different
    placeholder names (Eve's item GET and our PATCH) share the first name.
    """

    def __init__(self) -> None:
        self.paths: dict[str, dict] = {}
        self._by_shape: dict[str, str] = {}

    def add(self, rule: str, method: str, operation: dict) -> None:
        path = openapi_path(rule)
        path = self._by_shape.setdefault(path_shape(path), path)
        operation["parameters"] = path_parameters(rule, parameter_names(path)) + operation.get("parameters", [])
        self.paths.setdefault(path, {})[method] = operation


def json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def response(description: str, schema: dict | None = None) -> dict:
    out: dict = {"description": description}
    if schema is not None:
        out["content"] = json_content(schema)
    return out


def error_schema() -> dict:
    """Flamenco's error body: ``_status``, ``_code``, ``_message`` and, for bad
    input, ``_issues`` naming each field at fault with the reason."""
    return {
        "type": "object",
        "properties": {
            "_status": {"type": "string", "enum": ["ERR"]},
            "_code": {"type": "integer"},
            "_message": {"type": "string"},
            "_issues": {"type": "object", "additionalProperties": {}},
            "_error": {"type": "object", "properties": {"code": {"type": "integer"},
                                                        "message": {"type": "string"}}},
        },
        "required": ["_status"],
    }


def error_response(description: str) -> dict:
    return response(description, {"$ref": "#/components/schemas/Error"})
