"""Task and worker status vocabularies and the Manager's transition rule.

The Server owns the job/task rules (``flamenco.status``); the Manager only
needs which task statuses it may schedule or run, and the one rule it enforces
on its cache: a task being cancelled may only end (reference A.4.3).
"""
from __future__ import annotations

# Task statuses.
QUEUED = "queued"
CLAIMED = "claimed-by-manager"
SOFT_FAILED = "soft-failed"
ACTIVE = "active"
COMPLETED = "completed"
FAILED = "failed"
CANCELED = "canceled"
CANCEL_REQUESTED = "cancel-requested"

# Waiting for a worker; the Server's "queued" and our "claimed-by-manager" are
# the same thing here (reference C.3).
SCHEDULABLE = (QUEUED, CLAIMED, SOFT_FAILED)
# Finished.
FINAL = (COMPLETED, FAILED, CANCELED)
# Held by a worker.
RUNNING = (ACTIVE, CANCEL_REQUESTED)
# What a cancel-requested task may still become.
CANCEL_REQUESTED_NEXT = FINAL

# Worker statuses.
W_STARTING = "starting"
W_AWAKE = "awake"
W_ASLEEP = "asleep"
W_TESTING = "testing"
W_TIMEOUT = "timeout"
W_OFFLINE = "offline"
W_ERROR = "error"
W_SHUTDOWN = "shutdown"  # requestable only, never stored as a status
# Statuses a human or the sleep schedule may request.
REQUESTABLE = (W_ASLEEP, W_AWAKE, W_SHUTDOWN)
# Requested statuses that do not interrupt a running task.
RUNNABLE_REQUESTS = (W_AWAKE, W_TESTING)
# Statuses a worker may acknowledge.
ACKNOWLEDGEABLE = (W_ASLEEP, W_AWAKE, W_ERROR, W_TESTING, W_SHUTDOWN)


def transition_allowed(current: str, new: str) -> bool:
    """Whether the cached task may go from ``current`` to ``new``."""
    if current == CANCEL_REQUESTED:
        return new in CANCEL_REQUESTED_NEXT
    return True
