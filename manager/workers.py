"""Worker registry: registration, credentials, "seen" bookkeeping, status requests.

Workers authenticate with HTTP Basic (their id and a secret they generated);
only a bcrypt hash of the secret is stored (reference A.2.1). The registry is
in memory; a verified secret is remembered as a SHA-256 digest, so bcrypt
runs once per worker and process, not on every call. "Last seen" and the
worker's current task are written lazily (they ride along with the next
flush); status changes are durable before they are answered.

Tags and resources (issue 15): ``tags`` are the worker's own (its config,
sent at registration and sign-on), ``admin_tags`` those an admin set on the
Server (None: not set). The admin's win while set (:func:`effective_tags`)
and sign-on never touches them, so they survive the worker's restarts.
``resources`` is what the worker detected (None: unknown, a Flamenco 2 worker).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

import bcrypt
from bson import ObjectId

from flamenco_manager import store
from flamenco_manager.context import ManagerContext
from flamenco_manager.engine import on_engine
from flamenco_protocol.statuses import REQUESTABLE_WORKER_STATUSES, WorkerStatus

# bcrypt cost for worker secrets: the secrets are 64 random characters, so a
# slow hash adds nothing; the original used bcrypt's minimum cost too.
BCRYPT_ROUNDS = 4
# Worker fields sent in JSON; the secret hash never leaves the Manager.
WIRE_FIELDS = ("nickname", "address", "status", "platform", "supported_task_types", "software",
               "current_task", "current_task_status", "current_task_updated", "current_job",
               "time_cost", "last_activity", "status_requested", "lazy_status_request", "sleep_schedule",
               "tags", "admin_tags", "resources")
# In-memory only: the verified secret's digest.
VERIFIED_DIGEST = "_verified_digest"


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


def change(ctx: ManagerContext, worker: dict, sets: dict[str, Any], lazy: bool = False) -> None:
    """Apply ``sets`` to the worker: memory and journal (``lazy``: with the next periodic flush)."""
    worker.update(sets)
    ctx.journal.set(store.WORKERS, worker["_id"], sets, lazy=lazy)


def hash_secret(secret: str) -> bytes:
    """bcrypt of a worker secret (CPU-bound; bcrypt lets go of the GIL, so callers may run it in a thread)."""
    return bcrypt.hashpw(secret.encode(), bcrypt.gensalt(BCRYPT_ROUNDS))


def check_secret(secret: str, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(secret.encode("utf-8", "surrogatepass"), hashed)
    except ValueError:  # e.g. longer than bcrypt accepts: cannot be the secret
        return False


def effective_tags(worker: dict) -> list[str]:
    """The tags the scheduler matches: the admin's while set, else the worker's own."""
    admin_tags = worker.get("admin_tags")
    return list(admin_tags) if admin_tags is not None else list(worker.get("tags") or ())


def set_admin_tags(ctx: ManagerContext, worker: dict, tags: list[str] | None) -> None:
    """An admin's tags replace the worker's own until cleared with None (a durable change)."""
    change(ctx, worker, {"admin_tags": tags})


def register(ctx: ManagerContext, *, hashed_secret: bytes, platform: str, task_types: list[str], nickname: str,
             address: str, software: str, tags: list[str], resources: dict | None) -> dict:
    """Store a new worker; the caller has validated the fields and hashed the secret."""
    doc: dict[str, Any] = {
        "_id": ObjectId(), "hashed_secret": hashed_secret, "nickname": nickname, "platform": platform,
        "supported_task_types": task_types, "address": address, "software": software,
        "tags": tags, "admin_tags": None, "resources": resources,
        "status": "", "status_requested": "", "lazy_status_request": False, "time_cost": 0,
        "last_activity": ctx.now(),
    }
    ctx.state.workers[doc["_id"]] = doc
    ctx.journal.insert(store.WORKERS, dict(doc))
    return doc


def find_credentials(ctx: ManagerContext, worker_id: str) -> dict | None:
    """The worker a Basic-auth user name names, if it has a secret at all."""
    try:
        oid = ObjectId(worker_id)
    except Exception:  # noqa: BLE001 - any malformed id is just "unknown"
        return None
    worker = ctx.state.workers.get(oid)
    return worker if worker is not None and worker.get("hashed_secret") else None


def verified_before(worker: dict, secret: str) -> bool | None:
    """True/False when this secret was checked for the worker before (a digest compare); None when not."""
    known = worker.get(VERIFIED_DIGEST)
    if known is None:
        return None
    return hmac.compare_digest(known, hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest())


def remember_verified(worker: dict, secret: str) -> None:
    """bcrypt said yes: later calls compare a SHA-256 digest instead (in memory only)."""
    worker[VERIFIED_DIGEST] = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def seen(ctx: ManagerContext, worker: dict, *, address: str, software: str, set_awake: bool,
         also: dict[str, Any] | None = None) -> None:
    """Record contact (and, for /task and may-i-run, that the worker is awake).

    Contact alone is written lazily; becoming awake is durable with the request.
    """
    sets: dict[str, Any] = {"last_activity": ctx.now(), "address": address, "software": software, **(also or {})}
    became_awake = set_awake and worker.get("status") not in (WorkerStatus.AWAKE, WorkerStatus.TESTING)
    if became_awake:
        sets["status"] = WorkerStatus.AWAKE
    change(ctx, worker, sets, lazy=not became_awake)


def sign_on(ctx: ManagerContext, worker: dict, *, nickname: str | None, task_types: list[str] | None,
            address: str, software: str, tags: list[str] | None = None, resources: dict | None = None) -> bool:
    """Mark the worker as starting; return whether its task types changed.

    ``tags``/``resources`` None: not sent (a Flamenco 2 worker), so what was known stays.
    """
    sets: dict[str, Any] = {"status": WorkerStatus.STARTING, "last_activity": ctx.now(),
                            "address": address, "software": software, "current_task": None}
    if nickname and nickname != worker.get("nickname"):
        sets["nickname"] = nickname
    if tags is not None:
        sets["tags"] = tags
    if resources is not None:
        sets["resources"] = resources
    types_changed = task_types is not None and sorted(task_types) != sorted(worker.get("supported_task_types") or [])
    if types_changed:
        sets["supported_task_types"] = task_types
    change(ctx, worker, sets)
    return types_changed


def mark_offline(ctx: ManagerContext, worker: dict) -> None:
    """Sign-off: offline; a sleeping worker is asked to sleep again when it returns."""
    sets: dict[str, Any] = {"status": WorkerStatus.OFFLINE, "status_requested": "", "lazy_status_request": False}
    if worker.get("status") == WorkerStatus.ASLEEP and worker.get("status_requested") in ("", None, WorkerStatus.SHUTDOWN):
        sets["status_requested"] = WorkerStatus.ASLEEP
    change(ctx, worker, sets)


@on_engine
def request_status_change(ctx: ManagerContext, worker_id: ObjectId, status: str, lazy: bool) -> bool:
    """Ask a worker to change status; return False if there is no such worker."""
    if status not in REQUESTABLE_WORKER_STATUSES:
        raise StatusRequestError(f"status {status!r} cannot be requested; use one of {', '.join(REQUESTABLE_WORKER_STATUSES)}")
    worker = ctx.state.workers.get(worker_id)
    if worker is None:
        return False
    change(ctx, worker, {"status_requested": status, "lazy_status_request": bool(lazy)})
    return True


def acknowledge_status(ctx: ManagerContext, worker: dict, status: str) -> None:
    """The worker confirms a status change (acknowledging ``shutdown`` is ignored)."""
    if status == WorkerStatus.SHUTDOWN:
        return
    change(ctx, worker, {"status": status, "status_requested": "", "lazy_status_request": False,
                       "last_activity": ctx.now()})


@on_engine
def acknowledge_timeout(ctx: ManagerContext, worker_id: ObjectId) -> bool:
    """Dashboard action: a timed-out worker is now known to be offline (stored, unlike D.1.12)."""
    worker = ctx.state.workers.get(worker_id)
    if worker is None or worker.get("status") != WorkerStatus.TIMEOUT:
        return False
    change(ctx, worker, {"status": WorkerStatus.OFFLINE, "status_requested": "", "lazy_status_request": False})
    return True


def forget(ctx: ManagerContext, worker_id: ObjectId) -> bool:
    """Delete a worker at once (the caller returned its tasks first)."""
    for key in [k for k in ctx.state.blocklist if k[0] == worker_id]:
        ctx.journal.delete(store.BLACKLIST, ctx.state.blocklist.pop(key)["_id"])
    if ctx.state.workers.pop(worker_id, None) is None:
        return False
    ctx.journal.delete(store.WORKERS, worker_id)
    return True


def current_task_fields(ctx: ManagerContext, task: dict) -> dict[str, Any]:
    """What the worker document says about the task it reported on."""
    return {"current_task_updated": ctx.now(), "current_task_status": task.get("status"),
            "current_task": task["_id"], "current_job": task.get("job")}


def task_pinged(ctx: ManagerContext, worker: dict, task: dict) -> None:
    """A worker confirmed it is running its task (may-i-run): keep the ping current (lazily written)."""
    task["last_worker_ping"] = ctx.now()
    ctx.journal.set(store.TASKS, task["_id"], {"last_worker_ping": task["last_worker_ping"]}, lazy=True)
