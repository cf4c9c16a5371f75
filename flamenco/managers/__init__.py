"""Managers: creation with a service account and token, ownership, project assignment."""
from __future__ import annotations

from bson import ObjectId
from pymongo.database import Database

from flamenco import defaults
from flamenco.auth import CurrentUser, roles, tokens
from flamenco.store.collections import MANAGERS
from flamenco.users import create_service_account, stamp_new


class ManagerError(ValueError):
    """A Manager could not be created or changed as asked."""


def create_manager(db: Database, name: str, *, description: str = "", owner: ObjectId | None = None,
                   projects: list[ObjectId] | None = None, url: str = "",
                   enforce_limit: bool = True) -> tuple[dict, str]:
    """Create a Manager, its service account and token; return ``(manager_doc, plain_token)``.

    ``enforce_limit`` applies ``MAX_MANAGERS_PER_USER`` to ``owner`` (Flamenco 2
    declared the limit but never enforced it, reference §14.7); the CLI run by
    an operator may lift it.
    """
    if not name:
        raise ManagerError("a Manager needs a name")
    if owner is not None and enforce_limit:
        owned = db[MANAGERS].count_documents({"owner_users": owner})
        if owned >= defaults.MAX_MANAGERS_PER_USER:
            raise ManagerError(f"user already owns {owned} Managers; "
                               f"the limit is {defaults.MAX_MANAGERS_PER_USER}")
    account = create_service_account(db, name)
    doc = stamp_new({
        "name": name,
        "description": description,
        "service_account": account["_id"],
        "owner_users": [owner] if owner is not None else [],
        "projects": sorted(set(projects or [])),
        "settings_version": 1,
        "upload_task_file_queue": [],
    })
    if url:
        doc["url"] = url
    db[MANAGERS].insert_one(doc)
    token = tokens.generate_token(db, account["_id"], prefix=defaults.MANAGER_TOKEN_PREFIX,
                                  days=defaults.MANAGER_TOKEN_EXPIRY_DAYS)
    return doc, token


def reset_token(db: Database, manager: dict) -> str:
    """Revoke the Manager's tokens and issue one new one (one token per Manager)."""
    account = manager["service_account"]
    tokens.revoke_tokens(db, account)
    return tokens.generate_token(db, account, prefix=defaults.MANAGER_TOKEN_PREFIX,
                                 days=defaults.MANAGER_TOKEN_EXPIRY_DAYS)


def user_is_owner(user: CurrentUser, manager: dict) -> bool:
    """May ``user`` administer ``manager`` (rename, share, assign, revoke)?"""
    if user.is_superuser or user.has_cap(roles.CAP_ADMIN):
        return True
    return user.has_cap(roles.CAP_USE) and user.user_id in (manager.get("owner_users") or [])

