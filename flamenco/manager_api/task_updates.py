"""``task-update-batch``: apply a Manager's queued task updates (reference §6.4).

Fixes of Flamenco 2 (reference §14.10, §14.12):

- Every update that can never succeed is acknowledged too (tasks that are
  gone, tasks of another Manager, malformed updates with a usable ``_id``), so
  a Manager never resends it forever. Malformed items are rejected one by one
  and listed in ``rejected_updates``; the rest of the batch is applied.
- ``_updated`` is the server's clock and never moves backwards; progress
  fields the update does not carry keep their value.
- A re-sent batch (the Manager lost the answer) never undoes newer state.
  Each task keeps a watermark, :data:`WATERMARK_FIELD`: the Manager-side time
  (``received_on_manager``) of the newest update applied to it, and the ids
  applied at that instant. An update not newer than it is stale: acknowledged,
  its log chunk stored (idempotent by update ``_id``), nothing else applied.
  The depsgraph claim drops the watermark (:func:`flamenco.status.mark_tasks_claimed`),
  since the next Manager may run on another clock.

Store cost: the batch is folded first. All updates of one task become one
statement (status, fields and watermark together), all statements go in one
``bulk_write``, the tasks (with their watermarks) are read with one query,
task-log chunks go in with one ``insert_many``, each job's task counts move
with one ``$inc`` (:mod:`flamenco.task_counts`), and each job's status is
recomputed once per distinct new task status, not once per update, from those
counts.

The status decisions and the write are the status rules'
(:func:`flamenco.status.write_reported_tasks`, which also announces the
tasks): this module parses, folds, keeps the watermarks and the log chunks,
and builds the answer.
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
from collections import defaultdict
from typing import Any, Iterable

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from flamenco import clock, eventbus, status
from flamenco.manager_api import defaults
from flamenco.manager_api.keys import storable_key_reason
from flamenco.store.collections import JOBS, TASK_LOGS, TASKS
from flamenco_protocol import wire
from flamenco_protocol.statuses import JobStatus, TaskStatus

log = logging.getLogger(__name__)

# The task field holding the newest applied update: {received_on_manager, update_ids}.
WATERMARK_FIELD = "last_applied_update"
# Task fields read once per batch: what the status rules need to write the task, and its watermark.
TASK_PROJECTION = [*status.REPORTED_TASK_FIELDS, WATERMARK_FIELD]
# Ids kept for updates stamped with the same (millisecond) time: a client with a
# coarse or frozen clock must not grow the task document without bound. Older
# ids beyond this are forgotten (their re-send would then apply again).
MAX_WATERMARK_UPDATE_IDS = 50
# Order in which the task -> job rules run when several tasks of one job
# changed in one batch: least final first, so e.g. a job first becomes active,
# then completed or failed, as it would have with the updates one by one.
JOB_RULE_ORDER = (TaskStatus.CLAIMED_BY_MANAGER, TaskStatus.QUEUED, TaskStatus.ACTIVE, TaskStatus.SOFT_FAILED,
                  TaskStatus.COMPLETED, TaskStatus.CANCELED, TaskStatus.FAILED)
# Job statuses whose tasks cannot be cancel-requested: finished (a job only
# becomes canceled or completed once no task awaits a cancel), or without
# tasks handed to a Manager.
NO_CANCEL_REQUESTED_JOB_STATES = frozenset({
    JobStatus.COMPLETED, JobStatus.CANCELED, JobStatus.ARCHIVING, JobStatus.ARCHIVED, JobStatus.WAITING_FOR_FILES,
    JobStatus.UNDER_CONSTRUCTION, JobStatus.CONSTRUCTION_FAILED})
# Integer progress fields a Manager may send.
PROGRESS_FIELDS = (wire.TASK_PROGRESS_PERCENTAGE, wire.CURRENT_COMMAND_INDEX, wire.COMMAND_PROGRESS_PERCENTAGE)
# Manager 2.x calls the command index ``current_command_idx`` in its documents.
FIELD_ALIASES = {wire.CURRENT_COMMAND_IDX: wire.CURRENT_COMMAND_INDEX}
# MongoDB's duplicate-key error: a task-log chunk that was stored before.
DUPLICATE_KEY = 11000


class UpdateRejected(ValueError):
    """One update of the batch is malformed; ``field`` says where."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclasses.dataclass
class BatchResult:
    """What the batch did; :meth:`response` is the wire answer."""

    modified_count: int = 0
    handled_update_ids: list[str] = dataclasses.field(default_factory=list)
    rejected_updates: list[dict] = dataclasses.field(default_factory=list)
    cancel_task_ids: list[str] = dataclasses.field(default_factory=list)
    upload_task_file_queue: list[dict] = dataclasses.field(default_factory=list)

    def response(self) -> dict:
        """Flamenco 2's answer; optional lists only when non-empty (reference §5.3)."""
        body: dict[str, Any] = {"modified_count": self.modified_count,
                                wire.HANDLED_UPDATE_IDS: self.handled_update_ids}
        for key in (wire.CANCEL_TASK_IDS, wire.UPLOAD_TASK_FILE_QUEUE, "rejected_updates"):
            if getattr(self, key):
                body[key] = getattr(self, key)
        return body


def _to_millis(moment: datetime.datetime) -> datetime.datetime:
    """``moment`` tz-aware and truncated to milliseconds, as BSON stores it, so stored and sent times compare."""
    return clock.moment(clock.as_utc(moment))


@dataclasses.dataclass
class Watermark:
    """The newest update applied to a task, in the Manager's clock; older ones are stale.

    BSON keeps milliseconds, and a Manager may stamp several updates within
    one: the ids applied at exactly ``at`` tell a re-sent one from a new one.
    """

    at: datetime.datetime | None = None
    update_ids: list[ObjectId] = dataclasses.field(default_factory=list)
    moved: bool = False  # advanced by this batch, so it must be written

    @classmethod
    def of(cls, task: dict) -> Watermark:
        stored = task.get(WATERMARK_FIELD) or {}
        at = stored.get(wire.RECEIVED_ON_MANAGER)
        return cls(at=_to_millis(at) if isinstance(at, datetime.datetime) else None,
                   update_ids=list(stored.get("update_ids") or []))

    def covers(self, update: ParsedUpdate) -> bool:
        """Whether ``update`` is not newer than what was applied (a re-send or an out-of-order one)."""
        if update.received_on_manager is None or self.at is None:
            return False
        sent = _to_millis(update.received_on_manager)
        return sent < self.at or (sent == self.at and update.update_id in self.update_ids)

    def advance(self, update: ParsedUpdate) -> None:
        """Record ``update`` as applied; an update without a Manager time leaves the watermark alone."""
        if update.received_on_manager is None:
            return
        sent = _to_millis(update.received_on_manager)
        if self.at is None or sent > self.at:
            self.at, self.update_ids = sent, []
        self.update_ids = [*self.update_ids, update.update_id][-MAX_WATERMARK_UPDATE_IDS:]
        self.moved = True

    def document(self) -> dict:
        return {wire.RECEIVED_ON_MANAGER: self.at, "update_ids": self.update_ids}


@dataclasses.dataclass
class TaskState(status.ReportedTask):
    """One task's folded updates (its stored status, the status it ends with, fields to set) and its watermark."""

    watermark: Watermark = dataclasses.field(default_factory=Watermark)

    def statement_fields(self) -> dict:
        """The task's fields, and its watermark when this batch moved it: written in the same statement."""
        if not self.watermark.moved:
            return dict(self.fields)
        return {**self.fields, WATERMARK_FIELD: self.watermark.document()}


@dataclasses.dataclass
class ParsedUpdate:
    """A validated update: its id, task, the fields to set and an optional log chunk."""

    update_id: ObjectId
    task_id: ObjectId
    task_status: str | None
    fields: dict
    log_chunk: str | None
    received_on_manager: datetime.datetime | None


def _object_id(value: Any, field: str) -> ObjectId:
    if isinstance(value, str) and ObjectId.is_valid(value):
        return ObjectId(value)
    raise UpdateRejected(field, "must be a 24-character hex ObjectId")


def _string(update: dict, key: str) -> str | None:
    value = update.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise UpdateRejected(key, "must be a string")
    return value


def _received_on_manager(update: dict) -> datetime.datetime | None:
    raw = _string(update, wire.RECEIVED_ON_MANAGER)
    if not raw:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise UpdateRejected(wire.RECEIVED_ON_MANAGER, "must be an ISO-8601 date") from None
    return clock.as_utc(parsed)


def _failed_by_workers(value: Any) -> list[dict]:
    if not isinstance(value, list):
        raise UpdateRejected(wire.FAILED_BY_WORKERS, "must be a list of {id, identifier}")
    result = []
    for entry in value:
        if not isinstance(entry, dict) or not isinstance(entry.get("identifier"), str):
            raise UpdateRejected(wire.FAILED_BY_WORKERS, "each entry needs an 'id' and an 'identifier' string")
        result.append({"id": _object_id(entry.get("id"), "failed_by_workers.id"), "identifier": entry["identifier"]})
    return result


def log_tail(chunk: str) -> str:
    """The last lines of a log chunk, what the task shows as its log."""
    return "\n".join(chunk.splitlines()[-defaults.LOG_TAIL_LINES:])


def parse_update(update: Any) -> ParsedUpdate:
    """Validate one update (everything but ``_id``, checked by the caller)."""
    if "task_id" not in update:
        raise UpdateRejected("task_id", "is required")
    task_id = _object_id(update["task_id"], "task_id")
    fields: dict[str, Any] = {}
    for name in (wire.ACTIVITY, wire.WORKER):
        value = _string(update, name)
        if value:
            fields[name] = value[:defaults.ACTIVITY_MAX_LENGTH] if name == wire.ACTIVITY else value
    for raw_name in (*PROGRESS_FIELDS, *FIELD_ALIASES):
        if update.get(raw_name) is None:
            continue
        value = update[raw_name]
        if not isinstance(value, int) or isinstance(value, bool):
            raise UpdateRejected(raw_name, "must be an integer")
        fields[FIELD_ALIASES.get(raw_name, raw_name)] = value
    metrics = update.get(wire.METRICS)
    if metrics is not None:
        if not isinstance(metrics, dict) or not isinstance(metrics.get(wire.TIMING, {}), dict):
            raise UpdateRejected(wire.METRICS, "must be an object like {timing: {name: seconds}}")
        reason = storable_key_reason(metrics, wire.METRICS)
        if reason:
            raise UpdateRejected(wire.METRICS, reason)
        if metrics.get(wire.TIMING):
            fields[f"{wire.METRICS}.{wire.TIMING}"] = metrics[wire.TIMING]
    if update.get(wire.FAILED_BY_WORKERS) is not None:
        fields[wire.FAILED_BY_WORKERS] = _failed_by_workers(update[wire.FAILED_BY_WORKERS])
    chunk = _string(update, wire.LOG)
    tail = _string(update, wire.LOG_TAIL)
    if tail:
        fields["log"] = tail
    elif chunk:
        fields["log"] = log_tail(chunk)
    return ParsedUpdate(update_id=ObjectId(update["_id"]), task_id=task_id,
                        task_status=_string(update, wire.TASK_STATUS), fields=fields,
                        log_chunk=chunk or None, received_on_manager=_received_on_manager(update))


def _split_batch(updates: list, result: BatchResult) -> list[ParsedUpdate]:
    """Validate every item; rejects are recorded (and acknowledged when their id allows)."""
    parsed: list[ParsedUpdate] = []
    for index, update in enumerate(updates):
        if not isinstance(update, dict):
            result.rejected_updates.append({"index": index, "field": "", "reason": "must be an object"})
            continue
        raw_id = update.get("_id")
        if not isinstance(raw_id, str) or not ObjectId.is_valid(raw_id):
            result.rejected_updates.append({"index": index, "field": "_id",
                                            "reason": "must be a 24-character hex ObjectId"})
            continue
        try:
            parsed.append(parse_update(update))
        except UpdateRejected as ex:
            result.handled_update_ids.append(raw_id)
            result.rejected_updates.append({"index": index, "_id": raw_id, "field": ex.field, "reason": ex.reason})
    return parsed


def fold_updates(manager: dict, updates: Iterable[ParsedUpdate], tasks: dict[ObjectId, dict],
                 result: BatchResult) -> tuple[dict[ObjectId, TaskState], list[dict]]:
    """Apply the updates in order to in-memory task states; return them and the log chunks to store."""
    states: dict[ObjectId, TaskState] = {}
    log_docs: list[dict] = []
    for update in updates:
        result.handled_update_ids.append(str(update.update_id))
        task = tasks.get(update.task_id)
        if task is None:
            continue  # deleted or archived: acknowledged, nothing to do (reference §3.8)
        if task.get("manager") != manager["_id"]:
            log.warning("Manager %s sent an update for task %s of another Manager; ignored",
                        manager["_id"], update.task_id)
            continue
        if update.log_chunk:
            log_docs.append({"_id": update.update_id, "task": update.task_id,
                             wire.RECEIVED_ON_MANAGER: update.received_on_manager or clock.utcnow(),
                             "log": update.log_chunk})
        state = states.get(update.task_id) or TaskState(task=task, status=task["status"],
                                                        watermark=Watermark.of(task))
        if state.watermark.covers(update):
            continue  # applied before (a re-sent batch) or older than what was: acknowledged only
        states[update.task_id] = state
        state.watermark.advance(update)
        if update.task_status:
            state.report(update.task_status)
        state.fields.update(update.fields)
    return states, log_docs


def store_log_chunks(db: Database, log_docs: list[dict]) -> None:
    """Insert deprecated full-log chunks; chunks stored by an earlier try are skipped."""
    if not log_docs:
        return
    try:
        db[TASK_LOGS].insert_many(log_docs, ordered=False)
    except BulkWriteError as ex:
        others = [e for e in ex.details.get("writeErrors", []) if e.get("code") != DUPLICATE_KEY]
        if others:
            raise


def write_states(db: Database, states: dict[ObjectId, TaskState], now: datetime.datetime) -> int:
    """Write the folded states in one ``bulk_write`` and announce them (:func:`status.write_reported_tasks`).

    Returns how many tasks were written; tasks deleted meanwhile leave ``states``.
    """
    return len(status.write_reported_tasks(db, states, now))


def apply_job_rules(db: Database, states: dict[ObjectId, TaskState], now: datetime.datetime) -> None:
    """Run the task -> job rules once per job and new task status (the rules announce the job changes)."""
    per_job: dict[ObjectId, set[str]] = defaultdict(set)
    for state in states.values():
        job_id = state.task.get("job")
        if state.status_changed and job_id is not None:
            per_job[job_id].add(state.status)
    for job_id, new_statuses in per_job.items():
        ordered = [s for s in JOB_RULE_ORDER if s in new_statuses] + sorted(new_statuses - set(JOB_RULE_ORDER))
        counts = status.LazyTaskCounts(db, job_id)  # one read of the job's counts per batch, if a rule needs it
        for task_status in ordered:
            change = status.update_job_after_task_status_change(db, job_id, task_status, now=now, counts=counts)
            if change is not None and change.tasks_modified:
                counts.forget()


def cancel_requested_task_ids(db: Database, manager_id: ObjectId) -> list[ObjectId]:
    """Every task of the Manager waiting for it to confirm a cancellation.

    Asked on every poll, also by idle Managers: the small jobs collection is
    consulted first, and the tasks only of jobs flagged by the status rules as
    having had tasks made cancel-requested (``status.mark_cancel_requested_tasks``),
    so a busy job's tasks are not read on every poll. The tasks are selected by
    job alone: those jobs are the Manager's (see ``flamenco.manager_api.depsgraph``
    on why ``manager`` is not in the tasks' filter).
    """
    jobs = db[JOBS].find({"manager": manager_id, "status": {"$nin": sorted(NO_CANCEL_REQUESTED_JOB_STATES)},
                          status.CANCEL_REQUESTED_TASKS_FIELD: True}, projection=["_id"])
    job_ids = [job["_id"] for job in jobs]
    if not job_ids:
        return []
    tasks = db[TASKS].find({"job": {"$in": job_ids}, "status": TaskStatus.CANCEL_REQUESTED},
                           projection=["_id"])
    return [task["_id"] for task in tasks]


def handle_batch(db: Database, manager: dict, updates: list) -> BatchResult:
    """Apply a batch of task updates from ``manager`` and build the answer."""
    result = BatchResult()
    parsed = _split_batch(updates, result)
    task_ids = sorted({u.task_id for u in parsed})
    # One answer for all the tasks (one more than asked, so no getMore is needed to learn the end).
    tasks = {t["_id"]: t for t in db[TASKS].find({"_id": {"$in": task_ids}}, projection=TASK_PROJECTION,
                                                 batch_size=len(task_ids) + 1)} \
        if task_ids else {}
    states, log_docs = fold_updates(manager, parsed, tasks, result)
    store_log_chunks(db, log_docs)
    now = clock.utcnow()
    with eventbus.batch(db):  # the tasks and the job changes they cause, in one delivery
        result.modified_count = write_states(db, states, now)
        apply_job_rules(db, states, now)
    result.cancel_task_ids = [str(t) for t in cancel_requested_task_ids(db, manager["_id"])]
    result.upload_task_file_queue = [{"job": str(item.get("job")), "task": str(item.get("task"))}
                                     for item in manager.get(wire.UPLOAD_TASK_FILE_QUEUE) or []]
    return result
