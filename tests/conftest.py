"""Session-wide real services for every test: FerretDB (or MONGO_URI) and Redis.

Each test gets its own fresh database (``mongo_uri``) and a flushed Redis
(``redis_url``), so tests never see each other's data and never depend on a
developer's running services.

Set ``FLAMENCO_TEST_MONGO_URI`` (a server URI without database) to run the
suite against a real MongoDB instead of the embedded FerretDB.

No test module may leave a process running (:func:`no_leftover_processes`):
a leaked server, store or farm eats the CPU of every later test, holds its
port, and outlives the session.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import psutil
import pymongo
import pytest
import redis

from flamenco.farm import services
from flamenco.farm.supervisor import alive, stop_leftovers

# Manager processes started by tests must not answer SSDP searches on the real
# port 1900 of this machine; tests/manager/test_ssdp.py turns it on per process.
os.environ["FLAMENCO_MANAGER_SSDP_DISCOVERY"] = "false"

# Every process this session starts inherits this variable (a farm passes it
# on to its services, not to its workers), so one that outlives its parent,
# re-parented to init, is still known as this session's: "<pid>-<random>".
SESSION_VARIABLE = "FLAMENCO_TEST_SESSION"
if os.environ.get(SESSION_VARIABLE, "").split("-", 1)[0] != str(os.getpid()):  # not ours yet (imported once)
    os.environ[SESSION_VARIABLE] = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
SESSION_TOKEN = os.environ[SESSION_VARIABLE]
# Processes that session-scoped fixtures keep running on purpose (the stores).
SESSION_PROCESSES: set[int] = set()
# This session's temporary directories: a process working in one is this
# session's even when its environment says nothing (Redis overwrites its
# environment with its process title).
SESSION_DIRS: list[Path] = []
# How long a module's leftover processes get to finish exiting on their own.
LEFTOVER_EXIT_SECONDS = 3.0
# A leftover whose command line names one of these (the processes Flamenco's
# helpers start: servers, stores, farms, renders, browsers) fails its module;
# any other leftover is a warning. Either way it is killed.
FLAMENCO_PROGRAMS = ("flamenco", "celery", "ferretdb", "redis-server", "blender", "chromium", "chrome", "ffmpeg")


class LeftoverProcessWarning(UserWarning):
    """A test module left a (non-Flamenco) process running."""


@pytest.fixture(scope="session")
def services_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="flamenco-test-services-") as d:
        SESSION_DIRS.append(Path(d))
        yield Path(d)


@pytest.fixture(scope="session")
def mongo_server(services_dir: Path) -> Iterator[str]:
    """URI of the session's MongoDB-protocol server, without a database name."""
    external = os.environ.get("FLAMENCO_TEST_MONGO_URI")
    if external:
        yield external
        return
    svc = services.start_ferretdb(services_dir / "ferretdb")
    SESSION_PROCESSES.add(svc.process.pid)
    try:
        yield svc.url
    finally:
        svc.stop()


def with_database(server_uri: str, database: str) -> str:
    """Put ``database`` into the path of a MongoDB URI, keeping its options."""
    parts = urlsplit(server_uri)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


@contextlib.contextmanager
def fresh_database(mongo_server: str, prefix: str) -> Iterator[str]:
    """URI of a new database named ``<prefix><random>`` on ``mongo_server``; dropped afterwards."""
    name = prefix + uuid.uuid4().hex[:16]
    try:
        yield with_database(mongo_server, name)
    finally:
        with pymongo.MongoClient(mongo_server) as client:
            client.drop_database(name)


@pytest.fixture
def mongo_uri(mongo_server: str) -> Iterator[str]:
    """URI of a fresh, empty database for this test; dropped afterwards."""
    with fresh_database(mongo_server, "t_") as uri:
        yield uri


@pytest.fixture
def manager_db_uri(mongo_server: str) -> Iterator[str]:
    """A fresh database for a manager, separate from any server database."""
    with fresh_database(mongo_server, "mgr_") as uri:
        yield uri


@pytest.fixture
def mongo_db(mongo_uri: str) -> Iterator[pymongo.database.Database]:
    """A PyMongo handle on this test's fresh database."""
    client = pymongo.MongoClient(mongo_uri, tz_aware=True)
    try:
        yield client.get_default_database()
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_server(services_dir: Path) -> Iterator[str]:
    svc = services.start_redis(services_dir / "redis")
    SESSION_PROCESSES.add(svc.process.pid)
    try:
        yield svc.url
    finally:
        svc.stop()


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """A Redis URL on a database flushed before and after this test."""
    url = redis_server + "/0"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


def _marker(proc: psutil.Process) -> str | None:
    """The test session a process was started by (its SESSION_VARIABLE), if it says."""
    try:
        return proc.environ().get(SESSION_VARIABLE)
    except (psutil.Error, OSError):
        return None


def _all_processes() -> dict[tuple[int, float], psutil.Process]:
    """Every process, keyed by (pid, create time) so that a reused pid is a new key."""
    found = {}
    for proc in psutil.process_iter(["create_time"]):
        found[(proc.pid, proc.info["create_time"])] = proc
    return found


def _works_in(proc: psutil.Process, directories: list[Path]) -> bool:
    try:
        cwd = proc.cwd()
    except (psutil.Error, OSError):
        return False
    return any(cwd == str(d) or cwd.startswith(f"{d}/") for d in directories)


def new_session_processes(before: set[tuple[int, float]]) -> list[psutil.Process]:
    """Running processes of this session not in ``before``: its descendants and its orphans.

    An orphan (re-parented to init when its parent died) is known by the
    session's token in its environment, or by working in a session directory.
    """
    me = psutil.Process()
    descendant_pids = {p.pid for p in me.children(recursive=True)}
    found = []
    for key, proc in _all_processes().items():
        if key in before or proc.pid == me.pid or not alive(proc):
            continue
        if proc.pid in descendant_pids or _marker(proc) == SESSION_TOKEN or _works_in(proc, SESSION_DIRS):
            found.append(proc)
    return found


def describe_process(proc: psutil.Process) -> str:
    """pid, parent and command line, for a report."""
    try:
        return f"pid {proc.pid} (parent {proc.ppid()}): {' '.join(proc.cmdline())[:200]}"
    except psutil.Error:
        return f"pid {proc.pid}"


@pytest.fixture(scope="session", autouse=True)
def _session_basetemp(tmp_path_factory: pytest.TempPathFactory) -> None:
    SESSION_DIRS.append(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module", autouse=True)
def no_leftover_processes(request: pytest.FixtureRequest, _session_basetemp: None) -> Iterator[None]:
    """Fail a module that leaves processes running after its fixtures are torn down; kill them.

    Runs after the module's own fixtures end (autouse fixtures are set up
    first, so torn down last). The session's stores are exempt.
    """
    before = set(_all_processes())
    yield
    leftovers = [p for p in new_session_processes(before) if p.pid not in SESSION_PROCESSES]
    deadline = time.monotonic() + LEFTOVER_EXIT_SECONDS
    while leftovers and time.monotonic() < deadline:  # a process may still be on its way out
        time.sleep(0.1)
        leftovers = [p for p in leftovers if alive(p)]
    if not leftovers:
        return
    described = [describe_process(p) for p in leftovers]
    stop_leftovers(leftovers, grace=1.0)
    message = (f"{request.module.__name__} left {len(described)} process(es) running (now killed): "
               + "; ".join(described))
    if any(program in line.lower() for line in described for program in FLAMENCO_PROGRAMS):
        pytest.fail(message + " (a process a session-scoped fixture keeps on purpose belongs in "
                    "tests.conftest.SESSION_PROCESSES)", pytrace=False)
    warnings.warn(message, LeftoverProcessWarning, stacklevel=1)


_stale_report: list[str] = []


# Stores whose directory is gone: nobody uses them, and Redis then ignores SIGTERM (it cannot save).
ABANDONED_STORES = ("redis-server", "ferretdb-embed")


def _abandoned_store(proc: psutil.Process) -> bool:
    """An orphaned Redis or FerretDB working in a removed directory (an old test's temporary one)."""
    try:
        return (proc.ppid() == 1 and proc.name() in ABANDONED_STORES
                and os.readlink(f"/proc/{proc.pid}/cwd").endswith(" (deleted)"))
    except (psutil.Error, OSError):
        return False


def stale_processes() -> list[str]:
    """Processes of test sessions that are gone: their SESSION_VARIABLE names a dead pytest, or abandoned stores."""
    stale = []
    for proc in psutil.process_iter():
        marker = _marker(proc)
        if marker == SESSION_TOKEN:
            continue
        try:
            if not marker:
                if _abandoned_store(proc):
                    stale.append(describe_process(proc))
                continue
            owner = int(marker.split("-", 1)[0])
            if psutil.pid_exists(owner) and psutil.Process(owner).create_time() <= proc.create_time():
                continue  # its session still runs (a pid reused later would be younger than the process)
            stale.append(describe_process(proc))
        except (ValueError, psutil.Error):
            continue
    return stale


def pytest_sessionstart(session: pytest.Session) -> None:
    """Say loudly (also under -q) when processes of dead test sessions still run: they slow this one down."""
    stale = stale_processes()
    if not stale:
        return
    _stale_report[:] = [f"{len(stale)} process(es) of test sessions that are gone still run and slow this "
                        f"one down; kill them by pid:", *(f"  {line}" for line in stale)]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        for line in _stale_report:
            reporter.write_line(line, yellow=True, bold=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _stale_report:
        terminalreporter.write_sep("=", "processes of earlier test sessions", yellow=True, bold=True)
        for line in _stale_report:
            terminalreporter.write_line(line)
