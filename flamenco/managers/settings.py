"""Manager settings changed on the server: path variables and the worker registration secret.

The server never calls a Manager (it may sit behind NAT), so a change waits
on the Manager's document (``PENDING_FIELD``) as one versioned set of
overrides, and rides along in every task-update-batch answer as
``manager_settings`` (a field Flamenco 2 Managers ignore) until the Manager
reports in a notification (``manager_settings_version``) that it runs that
version. Each version carries the whole desired state (all variables; the
secret while unacknowledged), so a Manager that missed a version loses
nothing by applying only the newest.

The registration secret must reach the Manager in plain text (Flamenco 2
workers sign a JWT with it), so it cannot be hashed here: it is shown once
to the admin, travels encrypted at rest with the server's key
(``flamenco.notifications.crypto``) and is deleted once the Manager
acknowledged the version that carried it.

``blender`` and ``ffmpeg`` cannot be set from here: their values are the
programs a Manager lets its workers start (``flamenco_manager.executables``),
its own line of defence against a compromised server, so they stay in the
Manager's own config file.
"""
from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database

from flamenco import errors
from flamenco.notifications import crypto
from flamenco.output_paths import is_absolute
from flamenco.store.collections import MANAGERS

log = logging.getLogger(__name__)

PENDING_FIELD = "pending_settings"
# The version the Manager last reported running (its notifications' ``manager_settings_version``).
APPLIED_FIELD = "settings_applied_version"
PLATFORMS = ("linux", "windows", "darwin")
DIRECTIONS = ("oneway", "twoway")
# Lower-case names, as Manager variables are written in job settings: ``{render}``.
NAME_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
# Variables naming the programs a Manager runs; only its own config file sets them.
PROGRAM_VARIABLES = ("blender", "ffmpeg")
# A path longer than this is a mistake, not a path (Windows' long-path limit is 32,767).
MAX_VALUE_LENGTH = 1024
# More variables than this is a mistake; each one is expanded in every task handed out.
MAX_VARIABLES = 100
# Random bytes of a new registration secret (43 URL-safe characters; bcrypt and JWT take it).
SECRET_RANDOM_BYTES = 32


class SettingsError(errors.FieldError):
    """A change that cannot be made: ``code`` for the answer, ``field`` names the culprit."""


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise SettingsError(422, "name", "must be lower-case letters, digits and '_' (at most 64), e.g. render")
    if name in PROGRAM_VARIABLES:
        raise SettingsError(422, "name", f"{name} names the program workers run; set it in the Manager's "
                                         "own config file")
    return name


def _check_value(platform: str, value: object) -> str:
    field = f"values.{platform}"
    if not isinstance(value, str) or not value.strip():
        raise SettingsError(422, field, "must be a non-empty path")
    if len(value) > MAX_VALUE_LENGTH or any(ord(c) < 32 for c in value):
        raise SettingsError(422, field, f"must be one line of at most {MAX_VALUE_LENGTH} characters")
    if not is_absolute(value):
        raise SettingsError(422, field, "must be an absolute path (/..., C:\\..., \\\\server\\...) "
                                        "or start with a Manager variable such as {render}")
    return value


def parse_variable(payload: dict) -> dict[str, Any]:
    """``{"direction", "values": {platform: path}}`` checked, in the Manager's v2 variable form."""
    unknown = sorted(set(payload) - {"direction", "values"})
    if unknown:
        raise SettingsError(400, unknown[0], "unknown field; send direction and values")
    direction = payload.get("direction", "oneway")
    if direction not in DIRECTIONS:
        raise SettingsError(422, "direction", f"must be one of {', '.join(DIRECTIONS)}")
    values = payload.get("values")
    if not isinstance(values, dict) or not values:
        raise SettingsError(422, "values", f"must map at least one of {', '.join(PLATFORMS)} to a path")
    for platform in values:
        if platform not in PLATFORMS:
            raise SettingsError(422, f"values.{platform}", f"unknown platform; use {', '.join(PLATFORMS)}")
    return {"direction": direction,
            "values": [{"platform": p, "value": _check_value(p, values[p])} for p in PLATFORMS if p in values]}


def pending(manager: dict) -> dict:
    return manager.get(PENDING_FIELD) or {}


def waiting_for_manager(manager: dict) -> bool:
    """Whether the Manager has not yet reported running the newest change."""
    return pending(manager).get("version", 0) > (manager.get(APPLIED_FIELD) or 0)


def desired_variables(manager: dict) -> dict[str, Any]:
    """The variables the Manager is to use (the pending change, else what it reports), without
    the program variables it keeps from its own file."""
    current = pending(manager).get("variables")
    if current is None:
        current = manager.get("variables") or {}
    return {name: spec for name, spec in current.items() if name not in PROGRAM_VARIABLES}


def _store_change(db: Database, manager: dict, changes: dict[str, Any]) -> dict:
    """One more version with ``changes``; the Manager document after it."""
    version_field = f"{PENDING_FIELD}.version"
    updated = db[MANAGERS].find_one_and_update(
        {"_id": manager["_id"]}, {"$inc": {version_field: 1}}, return_document=ReturnDocument.AFTER)
    if updated is None:
        raise SettingsError(404, "manager_id", "the Manager no longer exists")
    version = updated[PENDING_FIELD]["version"]
    fields = {f"{PENDING_FIELD}.{key}": value for key, value in changes.items()}
    if "secret" in changes:
        fields[f"{PENDING_FIELD}.secret_version"] = version
    db[MANAGERS].update_one({"_id": manager["_id"]}, {"$set": fields})
    return {**updated, PENDING_FIELD: {**updated[PENDING_FIELD], **changes}}


def set_variable(db: Database, manager: dict, name: str, spec: dict) -> dict:
    variables = desired_variables(manager)
    if name not in variables and len(variables) >= MAX_VARIABLES:
        raise SettingsError(422, "name", f"a Manager has at most {MAX_VARIABLES} variables")
    return _store_change(db, manager, {"variables": {**variables, check_name(name): spec}})


def remove_variable(db: Database, manager: dict, name: str) -> dict:
    variables = desired_variables(manager)
    if name not in variables:
        raise SettingsError(404, "name", f"the Manager has no variable {name!r} that can be removed here")
    del variables[name]
    return _store_change(db, manager, {"variables": variables})


def rotate_secret(db: Database, manager: dict, secret_key: str) -> str:
    """A new registration secret for the Manager, in plain text: show it once, it is not kept readable."""
    secret = secrets.token_urlsafe(SECRET_RANDOM_BYTES)
    _store_change(db, manager, {"secret": crypto.encrypt(secret_key, secret)})
    return secret


def wire_pending(manager: dict, secret_key: str) -> dict[str, Any] | None:
    """The ``manager_settings`` of a task-update-batch answer, or None when the Manager is up to date."""
    if not waiting_for_manager(manager):
        return None
    change = pending(manager)
    wire: dict[str, Any] = {"version": change["version"]}
    if "variables" in change:
        wire["variables"] = change["variables"]
    if change.get("secret"):
        try:
            wire["worker_registration_secret"] = crypto.decrypt(secret_key, change["secret"])
        except crypto.SecretUnreadable:
            log.error("Manager %s: the pending registration secret cannot be decrypted (SECRET_KEY changed?); "
                      "rotate it again", manager["_id"])
    return wire


def parse_applied_version(payload: dict) -> int | None:
    """A notification's ``manager_settings_version`` (None when absent, as from Flamenco 2 Managers)."""
    version = payload.get("manager_settings_version")
    if version is None:
        return None
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise SettingsError(400, "manager_settings_version", "must be a non-negative integer")
    return version


def acknowledge(db: Database, manager: dict, version: int) -> None:
    """The Manager runs ``version``: record it, and forget a secret that version (or an earlier) carried."""
    db[MANAGERS].update_one({"_id": manager["_id"]}, {"$set": {APPLIED_FIELD: version}})
    if pending(manager).get("secret"):
        db[MANAGERS].update_one(
            {"_id": manager["_id"], f"{PENDING_FIELD}.secret_version": {"$lte": version}},
            {"$unset": {f"{PENDING_FIELD}.secret": "", f"{PENDING_FIELD}.secret_version": ""}})
