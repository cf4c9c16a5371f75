"""Who may call the Manager API: a Manager's service account, on its own id only.

The token arrives as Bearer or as HTTP Basic username (``flamenco.auth``
already turned it into ``current_user``). Then (reference §5.3):
anonymous -> 401, not a Manager account -> 403, malformed id -> 400,
unknown Manager -> 404, someone else's Manager -> 403. A call that passes
is the Manager's last contact (``flamenco.managers.last_contact``).
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import flask

from flamenco import errors
from flamenco.auth import scoping
from flamenco.managers import last_contact
from flamenco.store import current_db
from flamenco.store.collections import MANAGERS

_RECORDER_KEY = "flamenco_manager_contact"


def load_own_manager(manager_id: str) -> dict:
    """The Manager document ``manager_id`` if the caller is its service account; else abort."""
    user = scoping.require_user()
    if not user.is_manager:
        errors.abort(403, "this endpoint is for Flamenco Manager service accounts only")
    oid = errors.parse_object_id(manager_id, "manager_id")
    manager = current_db()[MANAGERS].find_one({"_id": oid})
    if manager is None:
        errors.abort(404, f"Manager {manager_id} does not exist")
    if manager.get("service_account") != user.user_id:
        errors.abort(403, "a Manager may only act on its own id")
    contact_recorder(flask.current_app).record(current_db(), oid)
    return manager


def contact_recorder(app: flask.Flask) -> last_contact.ContactRecorder:
    """The app's recorder of Managers' last contact (created on first use)."""
    recorder = app.extensions.get(_RECORDER_KEY)
    if recorder is None:
        recorder = app.extensions.setdefault(_RECORDER_KEY, last_contact.ContactRecorder())
    return recorder


def manager_api_call(view: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: replace the ``manager_id`` URL argument by the caller's own Manager document."""
    @functools.wraps(view)
    def wrapper(manager_id: str, **kwargs: Any) -> Any:
        return view(load_own_manager(manager_id), **kwargs)
    return wrapper

