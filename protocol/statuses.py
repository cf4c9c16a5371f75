"""Task, job and worker statuses: the strings on the wire and in the database, as enums.

Each member *is* its wire string (``enum.StrEnum``): it compares equal to it,
hashes like it, and serialises as it in JSON, BSON and Redis, so a stored or
received ``"queued"`` and ``TaskStatus.QUEUED`` are interchangeable. Code
writes the member; documents read back from a store or the network hold the
plain string.

The server's rule tables (who may change what, and the job <-> task reactions)
stay in ``flamenco.status``; this module holds only what the tiers share.
"""
from __future__ import annotations

import enum


class WireStatus(enum.StrEnum):
    """A status whose ``repr`` is its wire string's, as it was before the enums.

    Messages quote statuses with ``{status!r}``, and some of them are stored
    (a task's ``activity``) or answered over HTTP; members must read there
    exactly as the plain strings did.
    """

    def __repr__(self) -> str:
        return repr(self.value)


class TaskStatus(WireStatus):
    """A task's ``status`` (reference v2-server §3.2; the order of the Eve schema)."""

    UNDER_CONSTRUCTION = "under-construction"  # its job is still compiling; Managers never get it
    PAUSED = "paused"                          # its job was created or set paused
    QUEUED = "queued"                          # ready to go to a Manager
    CLAIMED_BY_MANAGER = "claimed-by-manager"  # sent to a Manager in a depsgraph, waiting there for a worker
    ACTIVE = "active"                          # a worker runs it
    COMPLETED = "completed"
    CANCEL_REQUESTED = "cancel-requested"      # the server wants it stopped; only the Manager moves it on
    CANCELED = "canceled"
    FAILED = "failed"
    SOFT_FAILED = "soft-failed"                # failed on some worker; still runnable by others


class JobStatus(WireStatus):
    """A job's ``status`` (reference v2-server §3.1, plus ``waiting-for-jobs``)."""

    WAITING_FOR_FILES = "waiting-for-files"
    UNDER_CONSTRUCTION = "under-construction"
    CONSTRUCTION_FAILED = "construction-failed"
    # Compiled, but waiting for the jobs in its ``depends_on`` to complete (not runnable).
    WAITING_FOR_JOBS = "waiting-for-jobs"
    PAUSED = "paused"
    QUEUED = "queued"
    REQUEUED = "requeued"                      # transient: requeues the tasks, then becomes queued
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCEL_REQUESTED = "cancel-requested"
    CANCELED = "canceled"
    FAIL_REQUESTED = "fail-requested"
    FAILED = "failed"
    ARCHIVING = "archiving"
    ARCHIVED = "archived"


class WorkerStatus(WireStatus):
    """A worker's ``status`` on its Manager, and what may be requested of it (reference A.5.1)."""

    STARTING = "starting"  # signed on, has not asked for work yet
    AWAKE = "awake"
    ASLEEP = "asleep"      # polls for a wake-up call, runs nothing
    TESTING = "testing"    # started with ``--test``
    TIMEOUT = "timeout"    # set by the Manager when the worker went silent
    OFFLINE = "offline"    # signed off
    ERROR = "error"        # acknowledged after a failed pre-task check
    SHUTDOWN = "shutdown"  # requestable only, never stored as a status


# --- Task status groups ---------------------------------------------------------

# Waiting for a worker on the Manager: the Server's "queued" and the Manager's
# "claimed-by-manager" are the same thing there (reference A.5.1, C.3).
SCHEDULABLE_TASK_STATUSES = (TaskStatus.QUEUED, TaskStatus.CLAIMED_BY_MANAGER, TaskStatus.SOFT_FAILED)
# Finished; also all a cancel-requested task may still become (reference A.4.3,
# v2-server §3.6: Manager and Server hold to the same rule).
FINAL_TASK_STATUSES = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELED)
# Held by a worker: a worker's current task is one in these.
RUNNING_TASK_STATUSES = (TaskStatus.ACTIVE, TaskStatus.CANCEL_REQUESTED)
# What a worker may report in a TaskUpdate's ``task_status`` (reference A.2.6, B.3).
WORKER_REPORTED_TASK_STATUSES = (TaskStatus.ACTIVE, TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELED)

# --- Worker status groups -------------------------------------------------------

# What a human or the sleep schedule may request (reference A.5.1).
REQUESTABLE_WORKER_STATUSES = (WorkerStatus.ASLEEP, WorkerStatus.AWAKE, WorkerStatus.SHUTDOWN)
# Requested statuses that do not interrupt a running task (may-i-run keeps saying yes).
RUNNABLE_REQUESTED_STATUSES = (WorkerStatus.AWAKE, WorkerStatus.TESTING)
# What a worker may acknowledge (``POST /ack-status-change/<status>``).
ACKNOWLEDGEABLE_WORKER_STATUSES = (WorkerStatus.ASLEEP, WorkerStatus.AWAKE, WorkerStatus.ERROR,
                                   WorkerStatus.TESTING, WorkerStatus.SHUTDOWN)


def task_transition_allowed(current: str | None, new: str) -> bool:
    """Whether a task may go from ``current`` to ``new`` by a TaskUpdate: a task being
    cancelled may only end (reference A.4.3); anything else goes."""
    if current == TaskStatus.CANCEL_REQUESTED:
        return new in FINAL_TASK_STATUSES
    return True
