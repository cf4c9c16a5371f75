"""The OpenAPI descriptions: public, covering every API route, generated from the schemas.

Validity against the OpenAPI 3.0 meta-schema is checked in test_openapi_validity.py.
"""
from __future__ import annotations

import pytest

from flamenco_protocol.openapi import openapi_path, path_shape
from tests.fuzz.conftest import ManagerWorld, ServerWorld


def _operations(description: dict) -> set[tuple[str, str]]:
    return {(method, path_shape(path)) for path, ops in description["paths"].items() for method in ops}


def test_server_description_is_public(server_world: ServerWorld) -> None:
    resp = server_world.app.test_client().get("/api/openapi.json")  # no credentials
    assert resp.status_code == 200
    assert resp.json["openapi"].startswith("3.0")


def test_server_description_covers_every_api_route(server_world: ServerWorld) -> None:
    described = _operations(server_world.app.test_client().get("/api/openapi.json").json)
    routed = {(method.lower(), path_shape(openapi_path(rule.rule)))
              for rule in server_world.app.url_map.iter_rules() if rule.rule.startswith("/api/")
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routed <= described, f"routes missing from the description: {sorted(routed - described)}"


def test_server_description_is_generated_from_the_eve_schemas(server_world: ServerWorld) -> None:
    description = server_world.app.test_client().get("/api/openapi.json").json
    job_input = description["components"]["schemas"]["FlamencoJobsInput"]
    assert set(job_input["required"]) == {"name", "job_type", "project", "manager"}
    assert job_input["properties"]["priority"] == {"type": "integer", "minimum": 1, "maximum": 100}
    assert job_input["properties"]["project"]["pattern"] == "^[a-f0-9]{24}$"
    assert "archive_blob_name" not in job_input["properties"]  # readonly: not for clients to send
    assert job_input["additionalProperties"] is False
    patch = description["paths"]["/api/flamenco/jobs/{_id}"]["patch"]
    ops = {v["properties"]["op"]["enum"][0] for v in patch["requestBody"]["content"]["application/json"]["schema"]
           ["oneOf"]}
    assert ops == {"set-job-status", "set-job-priority", "requeue-failed-tasks", "archive-job", "construct",
                   "recreate", "rna-overrides", "set-dependencies"}
    [rna] = [v for v in patch["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
             if v["properties"]["op"]["enum"] == ["rna-overrides"]]
    assert rna["required"] == ["op", "rna_overrides"]
    assert rna["properties"]["rna_overrides"]["items"] == {"type": "string"}


def test_server_description_marks_only_public_operations_public(server_world: ServerWorld) -> None:
    description = server_world.app.test_client().get("/api/openapi.json").json
    public = {f"{method.upper()} {path}" for path, ops in description["paths"].items()
              for method, op in ops.items() if op.get("security") == []}
    assert public <= {"GET /api/openapi.json", "POST /api/flamenco/managers/link/exchange",
                      "POST /api/flamenco/managers/link/reset-token"}
    assert description["security"] == [{"bearerAuth": []}, {"tokenBasic": []}]


def test_manager_description_covers_the_worker_api(manager_world: ManagerWorld) -> None:
    resp = manager_world.client.get("/openapi.json")  # no credentials
    assert resp.status_code == 200
    described = _operations(resp.json)
    app = manager_world.client.serving.runner.app
    worker_routes = {(route.method.lower(), path_shape(route.resource.canonical)) for route in app.router.routes()
                     if route.handler.__module__.endswith(".worker_api") and route.method not in ("HEAD", "OPTIONS")}
    assert worker_routes <= described, f"worker routes missing: {sorted(worker_routes - described)}"


@pytest.mark.parametrize("path, method", [("/task", "post"), ("/tasks/{task_id}/update", "post")])
def test_manager_worker_operations_require_worker_auth(manager_world: ManagerWorld, path: str, method: str) -> None:
    description = manager_world.client.get("/openapi.json").json
    assert description["paths"][path][method]["security"] == [{"workerAuth": []}]
