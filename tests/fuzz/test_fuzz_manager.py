"""Fuzz the Manager's worker API from its own OpenAPI description.

Requests carry a registered worker's credentials; path task ids are either
generated or a task in the manager's cache. No 500s, documented status
codes and content types, bodies matching the description.
"""
from __future__ import annotations

import pytest

from tests.fuzz.conftest import ManagerWorld
from tests.fuzz.fuzzing import CHECKS, fuzz_operation, fuzz_unlisted

OPERATIONS = [
    "POST /register-worker", "POST /sign-on", "POST /sign-off", "POST /task", "GET /task",
    "POST /tasks/{task_id}/update", "POST /tasks/{task_id}/return", "GET /may-i-run/{task_id}",
    "GET /status-change", "POST /ack-status-change/{ack_status}", "POST /output-produced", "GET /metrics",
]
# 500s found by fuzzing in code this suite does not own, marked xfail until fixed
# (the two found here, a >72-byte secret and bad metrics keys, are fixed).
KNOWN_500: dict[str, str] = {}


def _param(label: str):
    reason = KNOWN_500.get(label)
    return pytest.param(label, marks=pytest.mark.xfail(reason=reason, strict=False)) if reason else label


def runner(world: ManagerWorld):
    def run_case(case, real_ids: bool) -> None:
        if real_ids and "task_id" in (case.path_parameters or {}):
            case.path_parameters["task_id"] = world.task_id
        case.call_and_validate(auth=world.auth, checks=CHECKS)
    return run_case


@pytest.mark.parametrize("label", [_param(label) for label in OPERATIONS])
def test_worker_api(label: str, manager_schema, manager_world: ManagerWorld) -> None:
    fuzz_operation(manager_schema, label, runner(manager_world))


def test_operations_not_listed_above(manager_schema, manager_world: ManagerWorld) -> None:
    """New endpoints are fuzzed too, until someone lists them."""
    fuzz_unlisted(manager_schema, OPERATIONS + ["GET /openapi.json"], runner(manager_world))
