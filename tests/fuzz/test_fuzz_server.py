"""Fuzz the server's REST API and Manager API from its own OpenAPI description.

Schemathesis generates valid and invalid requests for every operation; each
must be answered without a 500, with a documented status code and content
type, and with a body that matches the description. Path ids are either
generated or the id of a real document, so requests reach past the "not
found" check into the handlers. Calls are made as a global admin, and Manager
API calls as the Manager the URL names.
"""
from __future__ import annotations

import pytest

from tests.fuzz.conftest import ServerWorld
from tests.fuzz.fuzzing import CHECKS, fuzz_operation, fuzz_unlisted

OPERATIONS = [
    "GET /api/", "GET /metrics",
    "GET /api/flamenco/jobs", "POST /api/flamenco/jobs", "GET /api/flamenco/jobs/{_id}",
    "PATCH /api/flamenco/jobs/{_id}", "DELETE /api/flamenco/jobs/{_id}",
    "GET /api/flamenco/tasks", "GET /api/flamenco/tasks/{_id}", "PATCH /api/flamenco/tasks/{_id}",
    "GET /api/flamenco/managers", "GET /api/flamenco/managers/{_id}", "PATCH /api/flamenco/managers/{_id}",
    "GET /api/flamenco/task_logs", "GET /api/flamenco/task_logs/{_id}",
    "GET /api/projects", "GET /api/projects/{_id}", "GET /api/users", "GET /api/users/{_id}",
    "POST /api/flamenco/managers/{manager_id}/startup", "POST /api/flamenco/managers/{manager_id}/update",
    "GET /api/flamenco/managers/{manager_id}/depsgraph",
    "POST /api/flamenco/managers/{manager_id}/task-update-batch",
    "POST /api/flamenco/managers/{manager_id}/attach-task-log/{task_id}",
    "POST /api/flamenco/managers/link/exchange", "POST /api/flamenco/managers/link/reset-token",
]
# 500s found by fuzzing in code this suite does not own, marked xfail until fixed
# (the one found here, dotted keys in Manager notifications, is fixed).
KNOWN_500: dict[str, str] = {}
# Path parameter names of the Manager API that stand for the calling Manager.
MANAGER_PARAMS = ("manager_id",)


def _param(label: str):
    reason = KNOWN_500.get(label)
    return pytest.param(label, marks=pytest.mark.xfail(reason=reason, strict=False)) if reason else label


def _use_real_ids(case, world: ServerWorld) -> None:
    """Point the case's path ids at existing documents of the resource in its URL."""
    for name in case.path_parameters or {}:
        if name in MANAGER_PARAMS:
            case.path_parameters[name] = world.ids["flamenco_managers"]
        elif name == "task_id":
            case.path_parameters[name] = world.ids["flamenco_tasks"]
        else:
            for resource, oid in world.ids.items():
                if case.path.startswith(f"/api/{resource.replace('flamenco_', 'flamenco/')}/"):
                    case.path_parameters[name] = oid


def runner(world: ServerWorld):
    def run_case(case, real_ids: bool) -> None:
        if real_ids:
            _use_real_ids(case, world)
        token = world.manager_token if "{manager_id}" in case.path else world.admin_token
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
    return run_case


@pytest.mark.parametrize("label", [_param(label) for label in OPERATIONS])
def test_server_api(label: str, server_schema, server_world: ServerWorld) -> None:
    fuzz_operation(server_schema, label, runner(server_world))


def test_operations_not_listed_above(server_schema, server_world: ServerWorld) -> None:
    """New endpoints are fuzzed too, until someone lists them."""
    fuzz_unlisted(server_schema, OPERATIONS + ["GET /api/openapi.json"], runner(server_world))
