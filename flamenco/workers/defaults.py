"""Every constant of the worker registry and the worker actions, in one place."""
from __future__ import annotations

# One document per (Manager, worker): the latest report of each worker.
WORKERS = "flamenco_workers"

# A worker last seen longer ago than this is shown "offline", whatever its
# Manager last said. An asleep Flamenco 2 worker polls its Manager every
# 30 s, and a Manager reports its workers at least every 30 s
# (``worker_report_max_interval``), so a live worker is never older than
# about a minute; twice that leaves room for a slow sync loop.
OFFLINE_AFTER_SECONDS = 120.0

# A report with more workers than this is refused (400): no Manager serves
# that many, and the registry replaces a Manager's workers in one bulk write.
MAX_WORKERS_PER_REPORT = 10_000

# Worker statuses are the Manager's (flamenco_protocol.statuses.WorkerStatus).
# The dashboard shows them as they are, except that silence beyond
# OFFLINE_AFTER_SECONDS shows as "offline"; a worker's task is its *current*
# task while in flamenco_protocol.statuses.RUNNING_TASK_STATUSES.

# What a user may ask of a worker, and the Manager status each one requests.
SLEEP = "sleep"
WAKE = "wake"
SHUTDOWN = "shutdown"
REMOVE_FROM_BLOCKLIST = "remove-from-blocklist"
# Replace the worker's tags with an admin's (``tags``: a list), or return to its own (``tags``: null).
SET_TAGS = "set-tags"
# Its ``schedule`` is checked by flamenco.workers.sleep_schedule; the Manager applies it.
SET_SLEEP_SCHEDULE = "set-sleep-schedule"
ACTIONS = (SLEEP, WAKE, SHUTDOWN, REMOVE_FROM_BLOCKLIST, SET_TAGS, SET_SLEEP_SCHEDULE)
# Actions that may wait until the worker's current task is done (``lazy``).
LAZY_ACTIONS = (SLEEP, SHUTDOWN)

# Pending actions live on the Manager's document under this field, keyed by
# action id, so adding one is a ``$set`` and acknowledging a ``$unset`` of
# one key: atomic per document on MongoDB and the local store alike (the
# local store ignores ``$pull`` with a condition; flamenco.store: operators).
PENDING_FIELD = "pending_worker_actions"
# More pending actions per Manager than this is a 429: a Manager that never
# picks them up (a Flamenco 2 Manager) must not grow its document forever.
MAX_PENDING_ACTIONS = 200
# A pending action older than this is no longer handed out (and is dropped
# when the next one is queued): shutting a worker down hours after someone
# asked, because its Manager was upgraded or reconnected, would surprise.
PENDING_ACTION_MAX_AGE_SECONDS = 3600.0
