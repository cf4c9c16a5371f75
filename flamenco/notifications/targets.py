"""Where a project's notifications go: its webhooks and its e-mail settings.

Plain functions on the database, called by the API routes, the dashboard
views and the listener alike. Webhook documents keep the secret only
encrypted (:mod:`flamenco.notifications.crypto`); :func:`public_webhook` is
the one view of a webhook that leaves the server.
"""
from __future__ import annotations

import dataclasses
import datetime
from typing import Iterable

from bson import ObjectId
from pymongo.database import Database

from flamenco.notifications import crypto, defaults, validation


@dataclasses.dataclass(frozen=True)
class ProjectSettings:
    """A project's e-mail recipients, and whether every task failure is announced too."""

    email_recipients: list[str]
    task_failures: bool

    def as_json(self) -> dict:
        return {"email_recipients": list(self.email_recipients), "task_failures": self.task_failures}


def create_webhook(db: Database, project_id: ObjectId, url: object, *, created_by: ObjectId, secret_key: str,
                   allowed_hosts: Iterable[str], now: datetime.datetime) -> tuple[dict, str]:
    """Store a webhook for ``url``; return its document and its plain secret (shown once)."""
    checked_url = validation.check_webhook_url(url, allowed_hosts)
    if db[defaults.WEBHOOKS].count_documents({"project": project_id}) >= defaults.MAX_WEBHOOKS_PER_PROJECT:
        raise validation.InvalidSetting("url", f"a project has at most {defaults.MAX_WEBHOOKS_PER_PROJECT} webhooks")
    secret = crypto.new_secret()
    doc = {"project": project_id, "url": checked_url, "secret_encrypted": crypto.encrypt(secret_key, secret),
           "created_by": created_by, "_created": now, "_updated": now}
    db[defaults.WEBHOOKS].insert_one(doc)
    return doc, secret


def list_webhooks(db: Database, project_id: ObjectId) -> list[dict]:
    """The project's webhook documents, oldest first (secrets still encrypted)."""
    return list(db[defaults.WEBHOOKS].find({"project": project_id}).sort("_created", 1))


def find_webhook(db: Database, project_id: ObjectId, webhook_id: ObjectId) -> dict | None:
    """The webhook with this id if it belongs to the project."""
    return db[defaults.WEBHOOKS].find_one({"_id": webhook_id, "project": project_id})


def delete_webhook(db: Database, project_id: ObjectId, webhook_id: ObjectId) -> bool:
    """Remove the webhook; False if the project has no such webhook.

    Deliveries already queued for it then fail with "webhook was deleted"
    instead of still reaching the old URL.
    """
    return db[defaults.WEBHOOKS].delete_one({"_id": webhook_id, "project": project_id}).deleted_count == 1


def public_webhook(doc: dict) -> dict:
    """What the API shows of a webhook: never its secret, not even encrypted."""
    return {"_id": str(doc["_id"]), "project": str(doc["project"]), "url": doc["url"],
            "created_by": str(doc["created_by"]), "_created": doc["_created"].isoformat()}


def project_settings(db: Database, project_id: ObjectId) -> ProjectSettings:
    """The project's e-mail and task-failure settings (off until an admin sets them)."""
    doc = db[defaults.SETTINGS].find_one({"_id": project_id}) or {}
    return ProjectSettings(email_recipients=list(doc.get("email_recipients") or []),
                           task_failures=bool(doc.get("task_failures", False)))


def save_settings(db: Database, project_id: ObjectId, payload: dict, now: datetime.datetime) -> ProjectSettings:
    """Change the settings named in ``payload``; others keep their value."""
    unknown = sorted(set(payload) - {"email_recipients", "task_failures"})
    if unknown:
        raise validation.InvalidSetting(unknown[0], "unknown setting; use email_recipients and task_failures")
    current = project_settings(db, project_id)
    recipients = (validation.check_recipients(payload["email_recipients"]) if "email_recipients" in payload
                  else current.email_recipients)
    task_failures = (validation.check_flag(payload["task_failures"], "task_failures") if "task_failures" in payload
                     else current.task_failures)
    db[defaults.SETTINGS].update_one(
        {"_id": project_id},
        {"$set": {"email_recipients": recipients, "task_failures": task_failures, "_updated": now}}, upsert=True)
    return ProjectSettings(email_recipients=recipients, task_failures=task_failures)
