"""The delivery log: one document per (event, destination), with every attempt.

A delivery is written before it is queued, holding the exact body to send,
so each retry sends the same bytes and the same event id (receivers drop
duplicates by it). Each attempt appends ``{number, at, duration_ms,
status_code, error}`` and moves the delivery's ``state``. Project admins
read the log through the API and the dashboard (:func:`log_page`).
"""
from __future__ import annotations

import datetime
import json
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from flamenco.notifications import defaults

CHANNEL_WEBHOOK = "webhook"
CHANNEL_EMAIL = "email"

PENDING = "pending"
RETRYING = "retrying"
DELIVERED = "delivered"
FAILED = "failed"
# Written but never queued: background jobs are off (CELERY_ENABLED=false).
NOT_QUEUED = "not-queued"
STATES = (PENDING, RETRYING, DELIVERED, FAILED, NOT_QUEUED)


def event_body(event: dict) -> str:
    """The JSON text of an event, as sent and as signed (compact, keys in a stable order)."""
    return json.dumps(event, separators=(",", ":"), sort_keys=True, default=str)


def new_webhook_delivery(db: Database, webhook: dict, event: dict, now: datetime.datetime) -> ObjectId:
    """Log a pending POST of ``event`` to ``webhook``; return the delivery id."""
    return _insert(db, {"project": webhook["project"], "channel": CHANNEL_WEBHOOK, "webhook": webhook["_id"],
                        "target": webhook["url"], "body": event_body(event)}, event, now)


def new_email_delivery(db: Database, project_id: ObjectId, recipients: list[str], event: dict, subject: str,
                       text: str, now: datetime.datetime) -> ObjectId:
    """Log a pending e-mail about ``event`` to ``recipients``; return the delivery id."""
    return _insert(db, {"project": project_id, "channel": CHANNEL_EMAIL, "recipients": recipients,
                        "target": ", ".join(recipients), "subject": subject, "text": text}, event, now)


def _insert(db: Database, fields: dict, event: dict, now: datetime.datetime) -> ObjectId:
    doc = {**fields, "event": event["type"], "event_id": event["id"], "state": PENDING, "attempts": [],
           "_created": now, "_updated": now}
    return db[defaults.DELIVERIES].insert_one(doc).inserted_id


def load(db: Database, delivery_id: ObjectId) -> dict | None:
    return db[defaults.DELIVERIES].find_one({"_id": delivery_id})


def record_attempt(db: Database, delivery_id: ObjectId, attempt: dict[str, Any], state: str,
                   now: datetime.datetime) -> None:
    """Append one attempt to the log and set the delivery's state."""
    db[defaults.DELIVERIES].update_one({"_id": delivery_id},
                                       {"$push": {"attempts": attempt}, "$set": {"state": state, "_updated": now}})


def set_state(db: Database, delivery_id: ObjectId, state: str, now: datetime.datetime) -> None:
    db[defaults.DELIVERIES].update_one({"_id": delivery_id}, {"$set": {"state": state, "_updated": now}})


def log_page(db: Database, project_id: ObjectId, page: int) -> tuple[list[dict], int]:
    """One page of the project's deliveries, newest first, and the total count."""
    query = {"project": project_id}
    total = db[defaults.DELIVERIES].count_documents(query)
    found = (db[defaults.DELIVERIES].find(query, {"body": 0, "text": 0})
             .sort("_created", -1).skip((page - 1) * defaults.LOG_PAGE_SIZE).limit(defaults.LOG_PAGE_SIZE))
    return list(found), total


def public_delivery(doc: dict) -> dict:
    """A delivery as the API shows it (ids as strings, times ISO 8601)."""
    result = {"_id": str(doc["_id"]), "project": str(doc["project"]), "channel": doc["channel"],
              "event": doc["event"], "event_id": doc["event_id"], "target": doc["target"], "state": doc["state"],
              "_created": doc["_created"].isoformat(), "_updated": doc["_updated"].isoformat(),
              "attempts": [{**a, "at": a["at"].isoformat()} for a in doc.get("attempts") or []]}
    if doc.get("webhook"):
        result["webhook"] = str(doc["webhook"])
    return result


def ensure_indexes(db: Database) -> None:
    """Indexes of the notification collections (the log is read per project, newest first)."""
    db[defaults.DELIVERIES].create_index([("project", 1), ("_created", -1)])
    db[defaults.WEBHOOKS].create_index([("project", 1)])
