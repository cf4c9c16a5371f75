"""Worker registry: registration, credentials, "seen" bookkeeping, status requests.

Workers authenticate with HTTP Basic (their id and a secret they generated);
only a bcrypt hash of the secret is stored (reference A.2.1).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading
from typing import Any

import bcrypt
from bson import ObjectId

from flamenco_manager import db as dbmod
from flamenco_manager import statuses
from flamenco_manager.context import ManagerContext

# bcrypt cost for worker secrets: the secrets are 64 random characters, so a
# slow hash adds nothing; the original used bcrypt's minimum cost too.
BCRYPT_ROUNDS = 4
# Verified (worker id, hash) -> sha256 of the secret, so the hot path does
# not run bcrypt on every call; bounded so it cannot grow without limit.
_VERIFIED_MAX = 10_000
_verified: dict[tuple[str, bytes], bytes] = {}
_verified_lock = threading.Lock()
# Worker fields sent in JSON; the secret hash never leaves the Manager.
WIRE_FIELDS = ("nickname", "address", "status", "platform", "supported_task_types", "software",
               "current_task", "current_task_status", "current_task_updated", "current_job",
               "time_cost", "last_activity", "status_requested", "lazy_status_request", "sleep_schedule")


class StatusRequestError(ValueError):
    """A status that cannot be requested."""


def identifier(worker: dict) -> str:
    """``"<address> (<nickname>)"``: how the Server names a worker (reference C.3)."""
    return f"{worker.get('address', '')} ({worker.get('nickname', '')})"


def to_wire(worker: dict) -> dict:
    out: dict[str, Any] = {"_id": str(worker["_id"])}
    for key in WIRE_FIELDS:
        value = worker.get(key)
        if isinstance(value, ObjectId):
            value = str(value)
        elif isinstance(value, dt.datetime):
            value = value.isoformat()
        if value is not None:
            out[key] = value
    out.setdefault("status_requested", "")
    out.setdefault("lazy_status_request", False)
    out.setdefault("time_cost", 0)
    return out


def register(ctx: ManagerContext, *, secret: str, platform: str, task_types: list[str], nickname: str,
             address: str, software: str) -> dict:
    """Store a new worker; the caller has validated the fields."""
    hashed = bcrypt.hashpw(secret.encode(), bcrypt.gensalt(BCRYPT_ROUNDS))
    doc = {
        "_id": ObjectId(), "hashed_secret": hashed, "nickname": nickname, "platform": platform,
        "supported_task_types": task_types, "address": address, "software": software,
        "status": "", "status_requested": "", "lazy_status_request": False, "time_cost": 0,
        "last_activity": ctx.now(),
    }
    ctx.db[dbmod.WORKERS].insert_one(doc)
    return doc


def authenticate(ctx: ManagerContext, worker_id: str, secret: str) -> dict | None:
    """The worker whose id and secret these are, or None."""
    try:
        oid = ObjectId(worker_id)
    except Exception:  # noqa: BLE001 - any malformed id is just "unknown"
        return None
    worker = ctx.db[dbmod.WORKERS].find_one({"_id": oid})
    if worker is None or not worker.get("hashed_secret"):
        return None
    hashed = bytes(worker["hashed_secret"])
    digest = hashlib.sha256(secret.encode()).digest()
    key = (worker_id, hashed)
    with _verified_lock:
        known = _verified.get(key)
    if known is not None:
        return worker if hmac.compare_digest(known, digest) else None
    try:
        if not bcrypt.checkpw(secret.encode(), hashed):
            return None
    except ValueError:  # e.g. longer than bcrypt accepts: cannot be the secret
        return None
    with _verified_lock:
        if len(_verified) >= _VERIFIED_MAX:
            _verified.clear()
        _verified[key] = digest
    return worker


def seen(ctx: ManagerContext, worker: dict, *, address: str, software: str, set_awake: bool,
         also: dict[str, Any] | None = None) -> None:
    """Record contact (and, for /task and may-i-run, that the worker is awake) in one write.

    ``also`` adds fields to the same write, since on FerretDB every write scans.
    """
    sets: dict[str, Any] = {"last_activity": ctx.now(), "address": address, "software": software, **(also or {})}
    if set_awake and worker.get("status") not in (statuses.W_AWAKE, statuses.W_TESTING):
        sets["status"] = statuses.W_AWAKE
    ctx.db[dbmod.WORKERS].update_one({"_id": worker["_id"]}, {"$set": sets})
    worker.update(sets)


def sign_on(ctx: ManagerContext, worker: dict, *, nickname: str | None, task_types: list[str] | None,
            address: str, software: str) -> bool:
    """Mark the worker as starting; return whether its task types changed."""
    sets: dict[str, Any] = {"status": statuses.W_STARTING, "last_activity": ctx.now(),
                            "address": address, "software": software}
    if nickname and nickname != worker.get("nickname"):
        sets["nickname"] = nickname
    types_changed = task_types is not None and sorted(task_types) != sorted(worker.get("supported_task_types") or [])
    if types_changed:
        sets["supported_task_types"] = task_types
    ctx.db[dbmod.WORKERS].update_one({"_id": worker["_id"]}, {"$set": sets, "$unset": {"current_task": ""}})
    return types_changed


def mark_offline(ctx: ManagerContext, worker: dict) -> None:
    """Sign-off: offline; a sleeping worker is asked to sleep again when it returns."""
    sets: dict[str, Any] = {"status": statuses.W_OFFLINE, "status_requested": "", "lazy_status_request": False}
    if worker.get("status") == statuses.W_ASLEEP and worker.get("status_requested") in ("", None, statuses.W_SHUTDOWN):
        sets["status_requested"] = statuses.W_ASLEEP
    ctx.db[dbmod.WORKERS].update_one({"_id": worker["_id"]}, {"$set": sets})


def request_status_change(ctx: ManagerContext, worker_id: ObjectId, status: str, lazy: bool) -> bool:
    """Ask a worker to change status; return False if there is no such worker."""
    if status not in statuses.REQUESTABLE:
        raise StatusRequestError(f"status {status!r} cannot be requested; use one of {', '.join(statuses.REQUESTABLE)}")
    result = ctx.db[dbmod.WORKERS].update_one(
        {"_id": worker_id}, {"$set": {"status_requested": status, "lazy_status_request": bool(lazy)}})
    return result.matched_count == 1


def acknowledge_status(ctx: ManagerContext, worker: dict, status: str) -> None:
    """The worker confirms a status change (acknowledging ``shutdown`` is ignored)."""
    if status == statuses.W_SHUTDOWN:
        return
    ctx.db[dbmod.WORKERS].update_one(
        {"_id": worker["_id"]},
        {"$set": {"status": status, "status_requested": "", "lazy_status_request": False,
                  "last_activity": ctx.now()}})


def acknowledge_timeout(ctx: ManagerContext, worker_id: ObjectId) -> bool:
    """Dashboard action: a timed-out worker is now known to be offline (stored, unlike D.1.12)."""
    result = ctx.db[dbmod.WORKERS].update_one(
        {"_id": worker_id, "status": statuses.W_TIMEOUT},
        {"$set": {"status": statuses.W_OFFLINE, "status_requested": "", "lazy_status_request": False}})
    return result.matched_count == 1


def forget(ctx: ManagerContext, worker_id: ObjectId) -> bool:
    """Delete a worker at once (its tasks time out or are returned by the caller)."""
    ctx.db[dbmod.BLACKLIST].delete_many({"worker_id": worker_id})
    return ctx.db[dbmod.WORKERS].delete_one({"_id": worker_id}).deleted_count == 1


def current_task_fields(ctx: ManagerContext, task: dict) -> dict[str, Any]:
    """What the worker document says about the task it reported on."""
    return {"current_task_updated": ctx.now(), "current_task_status": task.get("status"),
            "current_task": task["_id"], "current_job": task.get("job")}


def task_pinged(ctx: ManagerContext, worker: dict, task: dict) -> None:
    """A worker confirmed it is running its task (may-i-run): keep the ping current."""
    ctx.db[dbmod.TASKS].update_one({"_id": task["_id"]},
                                   {"$set": {"last_worker_ping": ctx.now(), "worker_id": worker["_id"]}})
