"""The farm-wide worker registry and the worker actions users queue (issue 14).

The server never talks to workers: each Manager reports its workers in its
startup/update notifications (optional ``workers`` field, which Flamenco 2
Managers do not send), and the registry keeps the latest report, one
document per Manager and worker. Actions (sleep, wake, shut down, remove
from a job's blocklist, set tags) wait on the Manager's document until the Manager
picks them up in the answer to its next task-update batch, applies them,
and acknowledges them in its next notification: communication stays
bottom-up, so a Manager behind NAT works.

Modules, one concern each: ``defaults`` (constants), ``report`` (what a
Manager may report), ``registry`` (the store and the displayed status),
``actions`` (queue, hand out, acknowledge), ``eligibility`` (which workers
can run a job with requirements, issue 15), ``routes`` (REST API) and
``blueprint`` (registration and indexes).
"""
from __future__ import annotations

from flamenco.workers.defaults import WORKERS

__all__ = ["WORKERS"]
