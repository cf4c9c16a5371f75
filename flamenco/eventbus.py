"""The server's in-process event bus: a change announces itself, listeners react.

Whatever changes a job or a task (the status rules, the Manager API, PATCH
operations, Celery jobs) emits a :class:`Change` here after writing it. What
reacts to changes (the dashboard's live feed and read models, notifications)
subscribes a listener once, at app or Celery start-up, so domain code never
imports the dashboard and a new reaction needs no edit in the code that changes
things.

A hand-written bus rather than a library (blinker, Flask's signals): we need
batching (a Manager's update batch of 1,000 tasks is announced in one delivery,
so a listener makes one Redis round trip and one store read, not 1,000) and
delivery of one operation's changes together; blinker's signals send one
receiver call per ``send``. The bus is 80 lines, with no threads: listeners run
in the thread of the change, after it was written.

A listener's exception is logged, never raised into the change: the change
already happened, and a dashboard that missed an update must not turn a
status change into an HTTP 500.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal, Mapping, Sequence

if TYPE_CHECKING:
    from bson import ObjectId
    from pymongo.database import Database

log = logging.getLogger(__name__)

Kind = Literal["job", "task"]


@dataclasses.dataclass(frozen=True)
class Change:
    """One job or task document that changed (or was deleted).

    ``status``/``previous_status`` are set when the change touched the status
    (``previous_status`` is None when the changer did not know it). ``doc`` is
    the document (or the changed fields with ``_id``, ``project`` and ``job``)
    when the changer has it at hand, which saves listeners a read; else
    listeners read what they need. ``tasks_changed`` on a job change says the
    change also wrote some of the job's tasks (so their views must be re-read).
    """

    kind: Kind
    doc_id: ObjectId
    job_id: ObjectId | None
    status: str | None = None
    previous_status: str | None = None
    tasks_changed: bool = False
    deleted: bool = False
    doc: Mapping[str, Any] | None = None

    @property
    def status_changed(self) -> bool:
        return self.status is not None and self.status != self.previous_status


Listener = Callable[["Database", Sequence[Change]], None]

_listeners: list[Listener] = []
_pending: contextvars.ContextVar[list[Change] | None] = contextvars.ContextVar("flamenco_eventbus_pending",
                                                                              default=None)


def subscribe(listener: Listener) -> None:
    """Call ``listener(db, changes)`` after every delivery; subscribing twice is one subscription."""
    if listener not in _listeners:
        _listeners.append(listener)


def unsubscribe(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def job_changed(job_id: ObjectId, *, status: str | None = None, previous_status: str | None = None,
                tasks_changed: bool = False, doc: Mapping[str, Any] | None = None) -> Change:
    return Change("job", job_id, job_id, status=status, previous_status=previous_status,
                  tasks_changed=tasks_changed, doc=doc)


def job_deleted(job: Mapping[str, Any]) -> Change:
    return Change("job", job["_id"], job["_id"], deleted=True, tasks_changed=True, doc=job)


def task_changed(task_id: ObjectId, job_id: ObjectId | None, *, status: str | None = None,
                 previous_status: str | None = None, doc: Mapping[str, Any] | None = None) -> Change:
    return Change("task", task_id, job_id, status=status, previous_status=previous_status, doc=doc)


def emit(db: Database, *changes: Change) -> None:
    """Announce changes: now, or at the end of the enclosing :func:`batch`."""
    if not changes:
        return
    pending = _pending.get()
    if pending is not None:
        pending.extend(changes)
        return
    _deliver(db, changes)


@contextlib.contextmanager
def batch(db: Database) -> Iterator[None]:
    """Deliver every change emitted inside the block once, together, when it ends.

    Also when the block raises: what was written before the error did happen.
    A nested batch joins the outer one.
    """
    if _pending.get() is not None:
        yield
        return
    token = _pending.set([])
    try:
        yield
    finally:
        changes = _pending.get() or []
        _pending.reset(token)
        if changes:
            _deliver(db, changes)


def _deliver(db: Database, changes: Sequence[Change]) -> None:
    for listener in list(_listeners):
        try:
            listener(db, changes)
        except Exception:  # noqa: BLE001 - see the module docstring
            log.exception("event listener %s failed on %d change(s)", getattr(listener, "__qualname__", listener),
                          len(changes))
