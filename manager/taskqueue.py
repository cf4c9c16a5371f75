"""The schedulable tasks in preference order: one heap per task type and requirement set.

Preference (reference A.5.3): job priority, then task priority (higher
first), then age (older ``_id`` first). A claim pops the best task among the
heaps of the worker's task types that the worker may run; tasks it may not run
(blocklisted for it, failed by it) are set aside during that pop and put back,
so a claim costs O(k log n) for k such tasks, usually none.

Tasks of jobs with requirements (issue 15: tags, minimum CPU/RAM/GPU) go in
their own heap per distinct requirement set
(``flamenco_protocol.requirements.signature``), so a worker that does not meet
them never looks at those tasks: a claim asks ``meets`` once per heap of its
task types (a farm has a handful of distinct requirement sets), not once per
task, and a worker without the tag gets a 204 at the same cost while such
tasks wait for a worker that has it.

Tasks whose parents have not completed are not in a heap at all: they wait in
``waiting`` until their last parent completes (``parent_completed``), so they
never slow a claim down.

Removal is lazy: a removed or re-keyed task's heap entry is marked dead and
skipped when it reaches the top. Pure in-memory code, no I/O, no locks: only
the event loop that owns dispatch touches it.
"""
from __future__ import annotations

import heapq
from typing import Any, Callable, Iterable

from bson import ObjectId

from flamenco_protocol import requirements as reqs

# A heap entry: [-job_priority, -priority, task id, alive]. The id is unique,
# so comparisons never reach the flag.
Entry = list
# Heaps are keyed by (task type, requirement signature); "" is "no requirements".
HeapKey = tuple[str, str]
# Whether a worker meets a requirement set (a compact requirements dict, {} for none).
Meets = Callable[[dict[str, Any]], bool]


def no_requirements_only(requirements: dict[str, Any]) -> bool:
    """What a worker that meets no requirement at all may run."""
    return not requirements


def sort_key(task: dict) -> tuple[int, int, ObjectId]:
    return (-int(task.get("job_priority") or 0), -int(task.get("priority") or 0), task["_id"])


class TaskQueue:
    """Schedulable tasks by type, best first, with parent waits."""

    def __init__(self) -> None:
        # task type -> requirement signature -> heap
        self._heaps: dict[str, dict[str, list[Entry]]] = {}
        self._requirements: dict[str, dict[str, Any]] = {}
        self._entries: dict[ObjectId, tuple[HeapKey, Entry]] = {}
        # child id -> parents it still waits for; parent id -> children waiting for it.
        self._waiting_on: dict[ObjectId, set[ObjectId]] = {}
        self._children: dict[ObjectId, set[ObjectId]] = {}

    def __len__(self) -> int:
        return len(self._entries) + len(self._waiting_on)

    def __contains__(self, task_id: ObjectId) -> bool:
        return task_id in self._entries or task_id in self._waiting_on

    def add(self, task: dict, unfinished_parents: Iterable[ObjectId] = ()) -> None:
        """Make ``task`` schedulable (again, with its current priorities)."""
        self.discard(task["_id"])
        waiting = set(unfinished_parents)
        if waiting:
            self._waiting_on[task["_id"]] = waiting
            for parent in waiting:
                self._children.setdefault(parent, set()).add(task["_id"])
            return
        self._push(task)

    def _push(self, task: dict) -> None:
        task_type = task.get("task_type") or ""
        requirements = reqs.compact(task.get("requirements"))
        signature = reqs.signature(requirements)
        self._requirements.setdefault(signature, requirements)
        entry: Entry = [*sort_key(task), True]
        heapq.heappush(self._heaps.setdefault(task_type, {}).setdefault(signature, []), entry)
        self._entries[task["_id"]] = ((task_type, signature), entry)

    def discard(self, task_id: ObjectId) -> None:
        """No longer schedulable (claimed, cancelled, finished, forgotten)."""
        found = self._entries.pop(task_id, None)
        if found is not None:
            found[1][3] = False
        parents = self._waiting_on.pop(task_id, None)
        for parent in parents or ():
            children = self._children.get(parent)
            if children is not None:
                children.discard(task_id)
                if not children:
                    del self._children[parent]

    def parent_completed(self, parent_id: ObjectId, tasks: dict[ObjectId, dict]) -> None:
        """``parent_id`` completed: children waiting only for it become claimable."""
        for child_id in self._children.pop(parent_id, set()):
            waiting = self._waiting_on.get(child_id)
            if waiting is None:
                continue
            waiting.discard(parent_id)
            if not waiting:
                del self._waiting_on[child_id]
                child = tasks.get(child_id)
                if child is not None:
                    self._push(child)

    def _eligible_heaps(self, task_types: Iterable[str], meets: Meets) -> list[list[Entry]]:
        """The non-empty heaps of these task types whose requirements the worker meets; heaps found
        empty are dropped, so requirement sets of finished jobs do not pile up.

        Every worker meets "no requirements" (signature ""), so ``meets`` is not
        asked: parsing requirements on every claim was the manager's costliest
        line under a hundred workers (py-spy --gil, 2026-12-04)."""
        heaps = []
        for task_type in set(task_types):
            by_signature = self._heaps.get(task_type) or {}
            for signature, heap in list(by_signature.items()):
                while heap and not heap[0][3]:
                    heapq.heappop(heap)
                if not heap:
                    del by_signature[signature]
                elif not signature or meets(self._requirements[signature]):
                    heaps.append(heap)
        return heaps

    def pop_best(self, task_types: Iterable[str], may_run: Callable[[ObjectId], bool],
                 meets: Meets = no_requirements_only) -> ObjectId | None:
        """Remove and return the best task of ``task_types`` whose requirements the worker ``meets``
        and for which ``may_run`` holds."""
        heaps = self._eligible_heaps(task_types, meets)
        set_aside: list[tuple[list[Entry], Entry]] = []
        chosen: ObjectId | None = None
        while chosen is None:
            best_heap: list[Entry] | None = None
            for heap in heaps:
                while heap and not heap[0][3]:
                    heapq.heappop(heap)
                if heap and (best_heap is None or heap[0] < best_heap[0]):
                    best_heap = heap
            if best_heap is None:
                break
            entry = heapq.heappop(best_heap)
            if may_run(entry[2]):
                chosen = entry[2]
                del self._entries[chosen]
            else:
                set_aside.append((best_heap, entry))
        for heap, entry in set_aside:
            heapq.heappush(heap, entry)
        return chosen

