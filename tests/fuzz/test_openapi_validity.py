"""Both descriptions validate against the OpenAPI 3.0 meta-schema (openapi-spec-validator)."""
from __future__ import annotations

import re

import openapi_spec_validator as spec_validator

from tests.fuzz.conftest import ManagerWorld, ServerWorld


def test_server_description_is_valid_openapi(server_world: ServerWorld) -> None:
    spec_validator.validate(server_world.app.test_client().get("/api/openapi.json").json)


def test_manager_description_is_valid_openapi(manager_world: ManagerWorld) -> None:
    spec_validator.validate(manager_world.client.get("/openapi.json").json)


def test_conditional_writes_declare_if_match(server_world: ServerWorld) -> None:
    """Eve refuses DELETE of an item without If-Match (428): the description must say so (schemathesis)."""
    paths = server_world.app.test_client().get("/api/openapi.json").json["paths"]
    items = [path for path in paths if re.fullmatch(r"/api/(flamenco/jobs|users|projects)/\{[^}/]+\}", path)]
    assert len(items) == 3, sorted(paths)
    for path in items:
        for method in ("delete", "put"):
            if method in paths[path]:
                headers = {p["name"] for p in paths[path][method].get("parameters", []) if p.get("in") == "header"}
                assert "If-Match" in headers, (path, method)
    assert "delete" in paths[items[0]] or "delete" in paths[items[1]] or "delete" in paths[items[2]]
