"""Celery tasks that deliver notifications, with bounded exponential back-off.

Thin on purpose: each loads the logged delivery, makes one attempt
(:mod:`flamenco.notifications.sending`) and, when the attempt says so,
retries itself after ``retry_delay`` seconds. The attempt number is Celery's
retry count plus one; after ``NOTIFICATION_MAX_ATTEMPTS`` the attempt marks
the delivery failed instead of asking for a retry. Imported by the Celery
worker through ``FlamencoExtension.celery_task_modules``.
"""
from __future__ import annotations

import celery
from bson import ObjectId

from flamenco.celery import app, db
from flamenco.notifications import deliveries, sending


def _settings() -> sending.SendSettings:
    return sending.SendSettings.from_config(db.config())


def _retry_if_asked(task: celery.Task, state: str) -> str:
    """Schedule the next attempt of a delivery left ``retrying``; return ``state``."""
    if state == deliveries.RETRYING:
        cfg = db.config()
        number = task.request.retries + 1
        delay = sending.retry_delay(number, float(cfg["WEBHOOK_RETRY_BASE_SECONDS"]),
                                    float(cfg["WEBHOOK_RETRY_MAX_SECONDS"]))
        raise task.retry(countdown=delay, max_retries=int(cfg["NOTIFICATION_MAX_ATTEMPTS"]))
    return state


def _delivery(delivery_id: str) -> dict | None:
    return deliveries.load(db.database(), ObjectId(delivery_id)) if ObjectId.is_valid(delivery_id) else None


# acks_late: a worker killed mid-attempt leaves the message to be delivered again;
# a delivery that already finished is then left alone (sending.FINISHED_STATES).
@app.task(name="flamenco.celery.deliver_webhook", bind=True, acks_late=True)
def deliver_webhook(self: celery.Task, delivery_id: str) -> str | None:
    """One signed POST of a logged webhook delivery; returns the delivery's state."""
    delivery = _delivery(delivery_id)
    if delivery is None:
        return None
    state = sending.attempt_webhook(db.database(), delivery, self.request.retries + 1, _settings())
    return _retry_if_asked(self, state)


@app.task(name="flamenco.celery.send_notification_email", bind=True, acks_late=True)
def send_notification_email(self: celery.Task, delivery_id: str) -> str | None:
    """One SMTP attempt of a logged e-mail delivery; returns the delivery's state."""
    delivery = _delivery(delivery_id)
    if delivery is None:
        return None
    state = sending.attempt_email(db.database(), delivery, self.request.retries + 1, _settings())
    return _retry_if_asked(self, state)
