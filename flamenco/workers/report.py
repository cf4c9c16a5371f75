"""What a Manager may report about its workers, and the registry documents made of it.

The notification's optional ``workers`` field is a list of::

    {"_id": "<worker id>", "nickname", "status", "status_requested", "lazy_status_request",
     "current_task", "current_task_status", "current_job", "last_activity" (ISO-8601),
     "platform", "supported_task_types": [...], "software", "address",
     "blocklist": [{"job": "<job id>", "task_type": "..."}],
     "tags": [...], "own_tags": [...], "tags_set_by_admin": bool,
     "resources": {"cpu_cores", "ram_bytes", "gpus": [{"model", "memory_bytes"}]} or null}

(``tags`` are those the Manager's scheduler matches; ``resources`` null means
unknown, see :mod:`flamenco_protocol.requirements`.)

with ``workers_reported_at`` (ISO-8601, the Manager's clock) beside it. Only
``_id`` is required; unknown fields are dropped, so a newer Manager may send
more. Validation uses Cerberus (as Eve does); a bad item is a 400 naming it,
e.g. ``workers[3].status``.
"""
from __future__ import annotations

import datetime
from typing import Any

import cerberus
from bson import ObjectId

from flamenco.manager_api import wire
from flamenco.workers import defaults
from flamenco_protocol import requirements

_OBJECT_ID = {"type": "string", "regex": "^[0-9a-f]{24}$"}
_SHORT = {"type": "string", "maxlength": 128}
_LONG = {"type": "string", "maxlength": 1024}
_TAGS = {"type": "list", "maxlength": requirements.MAX_TAGS, "default": [],
         "schema": {"type": "string", "regex": requirements.TAG_RE}}
_COUNT = {"type": "integer", "min": 0}


def _iso_datetime(value: object) -> datetime.datetime:
    if not isinstance(value, str):
        raise TypeError("must be an ISO-8601 string")
    return wire.parse_timestamp(value)


WORKER_SCHEMA: dict[str, dict[str, Any]] = {
    "_id": {**_OBJECT_ID, "required": True},
    "nickname": {**_LONG, "default": ""},
    "status": {**_SHORT, "default": ""},
    "status_requested": {**_SHORT, "nullable": True, "default": ""},
    "lazy_status_request": {"type": "boolean", "default": False},
    "current_task": {**_OBJECT_ID, "nullable": True, "default": None},
    "current_task_status": {**_SHORT, "nullable": True, "default": None},
    "current_job": {**_OBJECT_ID, "nullable": True, "default": None},
    "last_activity": {"type": "datetime", "coerce": _iso_datetime, "nullable": True, "default": None},
    "platform": {**_SHORT, "default": ""},
    "supported_task_types": {"type": "list", "maxlength": 100, "schema": _SHORT, "default": []},
    "software": {**_LONG, "default": ""},
    "address": {**_LONG, "default": ""},
    "blocklist": {"type": "list", "maxlength": 1000, "default": [], "schema": {
        "type": "dict", "schema": {"job": {**_OBJECT_ID, "required": True},
                                   "task_type": {**_SHORT, "required": True}}}},
    "tags": _TAGS,
    "own_tags": _TAGS,
    "tags_set_by_admin": {"type": "boolean", "default": False},
    "resources": {"type": "dict", "nullable": True, "default": None, "schema": {
        "cpu_cores": {**_COUNT, "required": True},
        "ram_bytes": {**_COUNT, "required": True},
        "gpus": {"type": "list", "maxlength": requirements.MAX_GPUS, "default": [], "schema": {
            "type": "dict", "schema": {"model": {"type": "string", "maxlength": requirements.MAX_GPU_MODEL,
                                                 "default": ""},
                                       "memory_bytes": {**_COUNT, "required": True}}}}}},
    # As set with a set-sleep-schedule action or on the Manager's own dashboard (null: none).
    "sleep_schedule": {"type": "dict", "nullable": True, "default": None, "schema": {
        "schedule_active": {"type": "boolean", "nullable": True},
        "days_of_week": {**_SHORT, "nullable": True},
        "time_start": {**_SHORT, "nullable": True},
        "time_end": {**_SHORT, "nullable": True}}},
}


class ReportError(ValueError):
    """A worker report that cannot be stored; ``field`` names the part that is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _first_error(errors: dict) -> tuple[str, str]:
    """Cerberus' nested error tree as one ``(field path, reason)``: ``blocklist[0].job``."""
    key, reasons = next(iter(errors.items()))
    reason = reasons[0] if isinstance(reasons, list) and reasons else reasons
    if not isinstance(reason, dict):
        return str(key), str(reason)
    sub_field, sub_reason = _first_error(reason)
    separator = "" if sub_field.startswith("[") else "."
    return f"{key}{separator}{sub_field}", sub_reason


def _cerberus_errors(errors: dict) -> dict:
    """List indexes as ``[i]`` keys, so paths read like JavaScript's."""
    return {(f"[{k}]" if isinstance(k, int) else k): (
        [_cerberus_errors(r) if isinstance(r, dict) else r for r in v] if isinstance(v, list) else v)
        for k, v in errors.items()}


def _validated_worker(item: object, index: int, validator: cerberus.Validator) -> dict:
    if not isinstance(item, dict):
        raise ReportError(f"workers[{index}]", "must be an object")
    if not validator.validate(item):
        field, reason = _first_error(_cerberus_errors(validator.errors))
        raise ReportError(f"workers[{index}].{field}", reason)
    return validator.document


def parse_reported_at(payload: dict, received_at: datetime.datetime) -> datetime.datetime:
    """The Manager's time of the report (``workers_reported_at``), or the server's when absent."""
    raw = payload.get("workers_reported_at")
    if raw is None:
        return received_at
    try:
        return _iso_datetime(raw)
    except (TypeError, ValueError):
        raise ReportError("workers_reported_at", "must be an ISO-8601 date") from None


def parse_workers(payload: dict) -> list[dict] | None:
    """The validated ``workers`` list (defaults filled in), or None when the Manager sent none."""
    if "workers" not in payload:
        return None
    items = payload["workers"]
    if not isinstance(items, list):
        raise ReportError("workers", "must be a list of workers")
    if len(items) > defaults.MAX_WORKERS_PER_REPORT:
        raise ReportError("workers", f"at most {defaults.MAX_WORKERS_PER_REPORT} workers per report")
    validator = cerberus.Validator(WORKER_SCHEMA, purge_unknown=True)
    workers = [_validated_worker(item, i, validator) for i, item in enumerate(items)]
    seen: set[str] = set()
    for i, worker in enumerate(workers):
        if worker["_id"] in seen:
            raise ReportError(f"workers[{i}]._id", "appears twice in the report")
        seen.add(worker["_id"])
    return workers


def registry_document(manager_id: ObjectId, worker: dict, reported_at: datetime.datetime,
                      received_at: datetime.datetime) -> dict:
    """The stored form of one reported worker (ids as ObjectIds, both clocks kept)."""
    def oid(value: str | None) -> ObjectId | None:
        return ObjectId(value) if value else None

    return {
        "_id": f"{manager_id}:{worker['_id']}",
        "manager": manager_id,
        "worker_id": worker["_id"],
        **{k: v for k, v in worker.items() if k not in ("_id", "current_task", "current_job", "blocklist")},
        "current_task": oid(worker["current_task"]),
        "current_job": oid(worker["current_job"]),
        "blocklist": [{"job": ObjectId(b["job"]), "task_type": b["task_type"]} for b in worker["blocklist"]],
        "reported_at": reported_at,
        "received_at": received_at,
    }
