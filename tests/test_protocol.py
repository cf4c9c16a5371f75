"""The shared protocol package (flamenco_protocol): one status vocabulary and wire-field names for every tier."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import bson
import pytest

import flamenco_protocol
from flamenco import status
from flamenco.jobs.schema import RESOURCE as JOB_RESOURCE
from flamenco.tasks.schema import RESOURCE as TASK_RESOURCE
from flamenco_manager.api import worker_api
from flamenco_manager.openapi import _TASK_UPDATE
from flamenco_protocol import statuses, wire
from flamenco_protocol.statuses import JobStatus, TaskStatus, WorkerStatus
from flamenco_worker import reporter

PROTOCOL_DIR = Path(flamenco_protocol.__file__).parent

# The wire strings themselves, written out: stored documents and Flamenco 2
# peers use exactly these, so changing one must be a deliberate edit here too.
TASK_WIRE = ["under-construction", "paused", "queued", "claimed-by-manager", "active", "completed",
             "cancel-requested", "canceled", "failed", "soft-failed"]
JOB_WIRE = ["waiting-for-files", "under-construction", "construction-failed", "waiting-for-jobs", "paused", "queued",
            "requeued", "active", "completed", "cancel-requested", "canceled", "fail-requested", "failed",
            "archiving", "archived"]
WORKER_WIRE = ["starting", "awake", "asleep", "testing", "timeout", "offline", "error", "shutdown"]


def test_enums_hold_exactly_the_wire_statuses() -> None:
    assert [s.value for s in TaskStatus] == TASK_WIRE
    assert [s.value for s in JobStatus] == JOB_WIRE
    assert [s.value for s in WorkerStatus] == WORKER_WIRE


def test_the_server_schema_allows_exactly_the_enums_as_plain_strings() -> None:
    for resource, enum_type in ((TASK_RESOURCE, TaskStatus), (JOB_RESOURCE, JobStatus)):
        allowed = resource["schema"]["status"]["allowed"]
        assert allowed == [s.value for s in enum_type]
        assert all(type(s) is str for s in allowed)  # also published as OpenAPI
        assert resource["schema"]["status"]["default"] in allowed


@pytest.mark.parametrize("name", sorted(n for n in dir(status) if n.endswith(("_STATES", "_STATUSES"))))
def test_every_status_set_of_the_server_rules_is_in_the_vocabulary(name: str) -> None:
    values = set(getattr(status, name))
    vocabulary = {s.value for s in (JobStatus if "_JOB_" in name or name.startswith("JOB_") else TaskStatus)}
    assert values <= vocabulary, f"{name}: {values - vocabulary}"


def test_the_protocol_groups_are_statuses_of_their_kind() -> None:
    for group in (statuses.SCHEDULABLE_TASK_STATUSES, statuses.FINAL_TASK_STATUSES, statuses.RUNNING_TASK_STATUSES,
                  statuses.WORKER_REPORTED_TASK_STATUSES):
        assert all(isinstance(s, TaskStatus) for s in group)
    for group in (statuses.REQUESTABLE_WORKER_STATUSES, statuses.RUNNABLE_REQUESTED_STATUSES,
                  statuses.ACKNOWLEDGEABLE_WORKER_STATUSES):
        assert all(isinstance(s, WorkerStatus) for s in group)
    # The Manager's worker API publishes what a worker may report, as plain strings.
    assert _TASK_UPDATE["properties"][wire.TASK_STATUS]["enum"] == ["active", "completed", "failed", "canceled"]


def test_cancel_requested_tasks_may_only_end_on_both_sides() -> None:
    for new in TaskStatus:
        ends = new in statuses.FINAL_TASK_STATUSES
        assert statuses.task_transition_allowed(TaskStatus.CANCEL_REQUESTED, new) is ends
        assert (status.determine_new_task_status("cancel-requested", new) is not None) is ends
    assert statuses.task_transition_allowed("active", TaskStatus.QUEUED)
    assert statuses.task_transition_allowed(None, TaskStatus.ACTIVE)


def test_a_member_is_its_wire_string_in_bson_json_and_messages() -> None:
    doc = {"status": TaskStatus.CLAIMED_BY_MANAGER, "in": [JobStatus.QUEUED, WorkerStatus.ASLEEP],
           TaskStatus.COMPLETED: 3}
    for decoded in (bson.decode(bson.encode(doc)), json.loads(json.dumps(doc))):
        assert decoded == {"status": "claimed-by-manager", "in": ["queued", "asleep"], "completed": 3}
        assert all(type(v) is str for v in (decoded["status"], *decoded["in"], *decoded))
    # The BSON bytes are those of the plain strings: stored documents cannot tell the difference.
    assert bson.encode(doc) == bson.encode({"status": "claimed-by-manager", "in": ["queued", "asleep"], "completed": 3})
    assert json.dumps(doc) == json.dumps({"status": "claimed-by-manager", "in": ["queued", "asleep"], "completed": 3})
    # Texts that quote a status (a task's activity, HTTP errors) read as with the plain string.
    member = JobStatus.CANCEL_REQUESTED
    assert (f"{member}", f"{member!r}", "%s %r" % (member, member)) == (
        "cancel-requested", "'cancel-requested'", "cancel-requested 'cancel-requested'")
    assert member == "cancel-requested" and hash(member) == hash("cancel-requested")


def test_what_the_worker_reports_is_what_the_manager_reads() -> None:
    read_by_manager = {wire.ACTIVITY, *worker_api.PROGRESS_FIELDS}
    assert set(reporter.ACTIVITY_FIELDS) <= read_by_manager
    assert worker_api.PROGRESS_FIELDS[wire.CURRENT_COMMAND_IDX] == wire.CURRENT_COMMAND_INDEX


def test_the_protocol_needs_only_the_standard_library() -> None:
    """It is installed with the worker alone: no third-party package, nothing of the server or manager."""
    for path in PROTOCOL_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module}
        assert imported - set(sys.stdlib_module_names) - {"__future__", "flamenco_protocol"} == set(), path


def test_importing_the_protocol_loads_neither_server_nor_manager() -> None:
    code = ("import sys, flamenco_protocol, flamenco_protocol.statuses, flamenco_protocol.wire\n"
            "import flamenco_protocol.openapi, flamenco_protocol.requirements\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('flamenco', 'flamenco_manager',\n"
            "    'flamenco_worker', 'bson', 'pymongo'))\n"
            "assert 'flamenco' not in sys.modules and 'flamenco_manager' not in sys.modules, loaded\n"
            "print(loaded)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
