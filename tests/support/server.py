"""Test helpers: users, tokens, projects, Managers, jobs, and a real server process.

Other parts' tests use these; keep the signatures stable.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

import httpx
from bson import ObjectId
from pymongo.database import Database

from flamenco import managers, projects, users
from flamenco.auth import tokens
from flamenco.farm.services import free_port
from flamenco.farm.supervisor import stop_process

REPO_ROOT = Path(__file__).resolve().parents[2]
# A freshly started server answers within a second or two; allow for a busy CI machine.
SERVER_START_TIMEOUT = 60.0


def _oid(value: dict | ObjectId | str) -> ObjectId:
    """The ObjectId of a document, or the id itself."""
    if isinstance(value, dict):
        return value["_id"]
    return ObjectId(value)


def make_user(db: Database, username: str, roles: Iterable[str] = ("flamenco-user",),
              password: str | None = None, **fields: Any) -> dict:
    """Insert a user; ``fields`` may give ``full_name`` and ``email``."""
    return users.create_user(db, username, roles_=roles, password=password,
                             full_name=fields.get("full_name", ""), email=fields.get("email", ""))


def make_token(db: Database, user: dict | ObjectId, days: float = 1) -> str:
    """A valid plain token for ``user``."""
    return tokens.generate_token(db, _oid(user), days=days)


def make_project(db: Database, name: str, members: Iterable[tuple[dict | ObjectId, str]] = (),
                 url: str | None = None) -> dict:
    """Insert a project with ``members`` as ``(user, role)``, role admin/member/viewer."""
    return projects.create_project(db, name, url=url, members=[(_oid(u), role) for u, role in members])


def make_manager(db: Database, projects: Iterable[dict | ObjectId] = (), owner: dict | ObjectId | None = None,
                 name: str = "Test Manager") -> tuple[dict, str]:
    """Create a Manager (service account, token, document); return ``(doc, plain token)``."""
    return managers.create_manager(db, name, owner=_oid(owner) if owner is not None else None,
                                   projects=[_oid(p) for p in projects], enforce_limit=False)


def job_doc(project: dict | ObjectId, manager: dict | ObjectId, user: dict | ObjectId, *,
            job_type: str = "sleep", settings: dict | None = None, name: str = "test job",
            priority: int = 50, start_paused: bool = False, **fields: Any) -> dict:
    """A job as a client submits it (ids as strings, JSON-ready)."""
    doc = {
        "name": name,
        "job_type": job_type,
        "project": str(_oid(project)),
        "manager": str(_oid(manager)),
        "user": str(_oid(user)),
        "priority": priority,
        "start_paused": start_paused,
        "settings": settings if settings is not None else {"frames": "1-12", "chunk_size": 4,
                                                             "time_in_seconds": 1},
    }
    doc.update(fields)
    return doc


def make_job(db: Database, project: dict | ObjectId, manager: dict | ObjectId, user: dict | ObjectId,
             **kwargs: Any) -> dict:
    """Insert and compile a job the way POST /api/flamenco/jobs does; return the job doc.

    Takes the keyword arguments of :func:`job_doc`; the job ends ``queued``
    (or ``paused`` with ``start_paused=True``, or ``construction-failed``).
    """
    from flamenco.jobs import construction

    doc = job_doc(project, manager, user, **kwargs)
    for field in ("project", "manager", "user"):
        doc[field] = ObjectId(doc[field])
    return construction.submit_job(db, doc)


def post_job(base_url: str, token: str, doc: dict) -> httpx.Response:
    """POST a job to a running server."""
    return httpx.post(f"{base_url}/api/flamenco/jobs", json=doc,
                      headers={"Authorization": f"Bearer {token}"}, timeout=60)


def _env_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@contextlib.contextmanager
def running_server(mongo_uri: str, redis_url: str, launcher: tuple[str, ...] = (), **config: Any) -> Iterator[str]:
    """Run ``python -m flamenco.cli server`` on a free port; yield its base URL.

    ``config`` keys are server config names (see flamenco/defaults.py), passed
    as environment variables; ``TESTING`` is on, ``CELERY_ENABLED`` off and
    ``SECRET_KEY`` random unless given (pass ``CELERY_ENABLED=True`` when a Celery worker runs). The
    process is stopped on exit; if it does not come up, the error includes its log.
    ``launcher`` goes between the interpreter and ``-m flamenco.cli`` (the
    benchmarks' command counter).
    """
    port = free_port()
    env = dict(os.environ)
    env.update({"MONGO_URI": mongo_uri, "REDIS_URL": redis_url, "TESTING": "true"})
    env.setdefault("CELERY_ENABLED", "false")
    # `flamenco server` refuses the published default key on every address.
    env.setdefault("SECRET_KEY", secrets.token_hex(32))
    env.update({key: _env_value(value) for key, value in config.items()})
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log_file:
        proc = subprocess.Popen(
            [sys.executable, *launcher, "-m", "flamenco.cli", "server", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            _wait_for_server(base_url, proc, log_file)
            yield base_url
        finally:
            stop_process(proc, grace=10)


def _wait_for_server(base_url: str, proc: subprocess.Popen, log_file) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            httpx.get(f"{base_url}/api/flamenco/jobs", timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    log_file.seek(0)
    output = log_file.read().decode("utf-8", "replace")[-4000:]
    raise RuntimeError(f"server at {base_url} did not start (exit code {proc.poll()}):\n{output}")
