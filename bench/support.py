"""What every benchmark script shares: the data store, Redis, a real server,
the header naming machine and store, and percentiles.

Each script starts its own FerretDB (SQLite) and Redis in a temp dir, unless
``MONGO_URI`` names a MongoDB server (URI without database) to use instead;
then the header says "MongoDB". Scripts import this as ``bench.support``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Iterator, Sequence

import pymongo
from pymongo.database import Database

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from flamenco.farm import services  # noqa: E402

# FerretDB's version as built by tools/ferretdb-embed (go.mod pins v1.24.x).
FERRETDB_LABEL = "FerretDB 1.24 (SQLite backend)"


@contextlib.contextmanager
def data_store() -> Iterator[tuple[str, str]]:
    """``(server URI without database, label)``: $MONGO_URI, or a fresh FerretDB."""
    external = os.environ.get("MONGO_URI")
    if external:
        yield external, "MongoDB at $MONGO_URI"
        return
    with tempfile.TemporaryDirectory(prefix="flamenco-bench-") as tmp:
        svc = services.start_ferretdb(Path(tmp) / "ferretdb")
        try:
            yield svc.url, FERRETDB_LABEL
        finally:
            svc.stop()


@contextlib.contextmanager
def redis_service() -> Iterator[str]:
    """A private Redis for the run (Celery stays off; Redis carries live events)."""
    with tempfile.TemporaryDirectory(prefix="flamenco-bench-redis-") as tmp:
        svc = services.start_redis(Path(tmp) / "redis")
        try:
            yield svc.url + "/0"
        finally:
            svc.stop()


@contextlib.contextmanager
def celery_worker(mongo_uri: str, redis_url: str) -> Iterator[None]:
    """``celery -A flamenco.celery worker`` on the bench's database and Redis."""
    env = dict(os.environ, MONGO_URI=mongo_uri, REDIS_URL=redis_url,
               PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryFile() as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "flamenco.celery", "worker", "--pool=solo",
                                 "--loglevel=WARNING", "--without-mingle", "--without-gossip", "--without-heartbeat"],
                                cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            yield
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def database_uri(server_uri: str, prefix: str) -> str:
    """A fresh database name on ``server_uri``, keeping its options."""
    from tests.conftest import with_database

    return with_database(server_uri, f"{prefix}_{uuid.uuid4().hex[:8]}")


def drop_database(uri: str) -> None:
    with pymongo.MongoClient(uri) as client:
        client.drop_database(client.get_default_database().name)


@dataclasses.dataclass(frozen=True)
class Tenancy:
    """A fresh benchmark database with one user, admin of one project, and one Manager of it."""

    uri: str
    db: Database
    user: dict
    project: dict
    manager: dict
    manager_token: str


@contextlib.contextmanager
def tenancy(server_uri: str, prefix: str) -> Iterator[Tenancy]:
    """A :class:`Tenancy` in a new database on ``server_uri``, dropped afterwards."""
    from tests.support.server import make_manager, make_project, make_user

    uri = database_uri(server_uri, prefix)
    client = pymongo.MongoClient(uri, tz_aware=True)
    db = client.get_default_database()
    try:
        user = make_user(db, "bench")
        project = make_project(db, "Bench", members=[(user, "admin")])
        manager, manager_token = make_manager(db, projects=[project], owner=user)
        yield Tenancy(uri, db, user, project, manager, manager_token)
    finally:
        client.close()
        drop_database(uri)


def header(title: str, store: str) -> None:
    """What ran where: every result block starts with this."""
    print(f"== {title}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; "
          f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; "
          f"load average at start: {load}; store: {store}")
    sys.stdout.flush()


def percentile(values: Sequence[float], pct: float) -> float:
    """The ``pct``-th percentile (nearest rank) of ``values``; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def latency_line(name: str, seconds: Sequence[float]) -> str:
    """``name: n=…, p50 … ms, p99 … ms, max … ms``."""
    ms = [s * 1000 for s in seconds]
    if not ms:
        return f"{name}: no calls"
    return (f"{name}: n={len(ms)}, p50 {percentile(ms, 50):.1f} ms, p99 {percentile(ms, 99):.1f} ms, "
            f"mean {statistics.fmean(ms):.1f} ms, max {max(ms):.1f} ms")


class Stopwatch:
    """``with Stopwatch() as sw: ...`` then ``sw.seconds``."""

    def __enter__(self) -> "Stopwatch":
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
