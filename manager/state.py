"""The Manager's state in memory: tasks, workers, the update queue, blocklist, settings.

Rebuilt from the buffer at start-up (:meth:`State.load`), then kept by the
domain modules, which record every change in the journal. Only the engine's
event loop touches it.
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Any

from bson import ObjectId

from flamenco_manager.store import Loaded
from flamenco_manager.taskqueue import TaskQueue
from flamenco_protocol.statuses import RUNNING_TASK_STATUSES, SCHEDULABLE_TASK_STATUSES, TaskStatus

# Blocklist key: (worker id, job id, task type).
# A queued update's changes to the cached task; see ``update_queue``.
TASK_SETS = "task_sets"
BlockKey = tuple[ObjectId, Any, str]


@dataclasses.dataclass
class State:
    tasks: dict[ObjectId, dict] = dataclasses.field(default_factory=dict)
    workers: dict[ObjectId, dict] = dataclasses.field(default_factory=dict)
    queue: TaskQueue = dataclasses.field(default_factory=TaskQueue)
    # Updates waiting for the Server, oldest first (insertion order).
    updates: dict[ObjectId, dict] = dataclasses.field(default_factory=dict)
    pending_per_task: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    # Updates the Server acknowledged, still in the buffer until their task's checkpoint, per task.
    retained: dict[ObjectId, list[dict]] = dataclasses.field(default_factory=dict)
    blocklist: dict[BlockKey, dict] = dataclasses.field(default_factory=dict)
    settings: dict[str, dict] = dataclasses.field(default_factory=dict)
    # Tasks stored in ``tasks_done`` rather than ``tasks``.
    done: set[ObjectId] = dataclasses.field(default_factory=set)
    # worker id -> ids of its active or cancel-requested tasks.
    running: dict[ObjectId, set[ObjectId]] = dataclasses.field(default_factory=dict)

    def load(self, loaded: Loaded) -> None:
        """Rebuild everything from the buffer's documents."""
        self.tasks = {t["_id"]: t for t in loaded.tasks}
        self.done = set(loaded.done_ids)
        self.workers = {w["_id"]: w for w in loaded.workers}
        self.updates = {u["_id"]: u for u in loaded.updates}
        self.pending_per_task = collections.Counter(u["task_id"] for u in loaded.updates)
        self.retained = {}
        self.blocklist = {(b["worker_id"], b["job_id"], b["task_type"]): b for b in loaded.blocklist}
        self.settings = {s["_id"]: s for s in loaded.settings}
        for update in loaded.updates:  # changes not yet checkpointed into their task documents
            task = self.tasks.get(update["task_id"])
            if task is not None:
                task.update(update.get(TASK_SETS) or {})
        self.queue = TaskQueue()
        self.running = {}
        for task in self.tasks.values():
            self.index(task)

    def unfinished_parents(self, task: dict) -> list[ObjectId]:
        """Parents known here and not completed; an unknown parent counts as completed
        (the Server only sends tasks that still have to run)."""
        out = []
        for parent in task.get("parents") or ():
            known = self.tasks.get(parent)
            if known is not None and known.get("status") != TaskStatus.COMPLETED:
                out.append(parent)
        return out

    def index(self, task: dict) -> None:
        """Put ``task`` in the queue and the running index as its status says."""
        task_id = task["_id"]
        if task.get("status") in SCHEDULABLE_TASK_STATUSES:
            self.queue.add(task, self.unfinished_parents(task))
        else:
            self.queue.discard(task_id)
        worker_id = task.get("worker_id")
        if task.get("status") in RUNNING_TASK_STATUSES and worker_id is not None:
            self.running.setdefault(worker_id, set()).add(task_id)
        if task.get("status") == TaskStatus.COMPLETED:
            self.queue.parent_completed(task_id, self.tasks)

    def unindex(self, task: dict) -> None:
        """Take ``task`` out of the queue and the running index (before it changes)."""
        self.queue.discard(task["_id"])
        worker_id = task.get("worker_id")
        if worker_id is not None and worker_id in self.running:
            self.running[worker_id].discard(task["_id"])
            if not self.running[worker_id]:
                del self.running[worker_id]

    def running_tasks(self, worker_id: ObjectId) -> list[dict]:
        return [self.tasks[t] for t in sorted(self.running.get(worker_id, ()), key=str) if t in self.tasks]
