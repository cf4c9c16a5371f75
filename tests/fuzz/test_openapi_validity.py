"""Both descriptions validate against the OpenAPI 3.0 meta-schema (openapi-spec-validator)."""
from __future__ import annotations

import pytest

from tests.fuzz.conftest import ManagerWorld, ServerWorld

spec_validator = pytest.importorskip("openapi_spec_validator", reason="test dependency openapi-spec-validator")


def test_server_description_is_valid_openapi(server_world: ServerWorld) -> None:
    spec_validator.validate(server_world.app.test_client().get("/api/openapi.json").json)


def test_manager_description_is_valid_openapi(manager_world: ManagerWorld) -> None:
    spec_validator.validate(manager_world.client.get("/openapi.json").json)
