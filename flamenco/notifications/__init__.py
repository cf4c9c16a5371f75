"""Project notifications: signed webhooks and e-mail when jobs finish (issue 15).

A project admin registers webhooks (``POST /api/flamenco/projects/<id>/webhooks``
or the project's Notifications page) and e-mail recipients. When a job of the
project becomes completed, failed or canceled (and, if the project asks, when
any task fails) the event-bus :func:`listener` logs one delivery per webhook
plus one e-mail, and queues a Celery task for each. The tasks POST the event
as JSON, signed with HMAC-SHA256 over timestamp and body, retrying with
exponential back-off, or send the e-mail through the configured SMTP server;
every attempt lands in the delivery log that project admins read.

Modules, one concern each: ``defaults`` (constants), ``validation`` (what
admins may configure), ``crypto`` (secrets encrypted at rest: why not
hashed), ``signing`` (the signature and its check), ``targets`` (webhooks and
settings), ``payloads`` (event and e-mail text), ``deliveries`` (the log),
``dispatch`` (the listener), ``sending`` (one attempt), ``tasks`` (Celery),
``routes`` (REST API) and ``views`` (dashboard page).
"""
from __future__ import annotations

from flamenco.notifications.dispatch import listener

__all__ = ["listener"]
