"""Session-wide real services for every test: FerretDB (or MONGO_URI) and Redis.

Each test gets its own fresh database (``mongo_uri``) and a flushed Redis
(``redis_url``), so tests never see each other's data and never depend on a
developer's running services.

Set ``FLAMENCO_TEST_MONGO_URI`` (a server URI without database) to run the
suite against a real MongoDB instead of the embedded FerretDB.
"""
from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import pymongo
import pytest
import redis

from flamenco.farm import services

# Manager processes started by tests must not answer SSDP searches on the real
# port 1900 of this machine; tests/manager/test_ssdp.py turns it on per process.
os.environ["FLAMENCO_MANAGER_SSDP_DISCOVERY"] = "false"


@pytest.fixture(scope="session")
def services_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="flamenco-test-services-") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def mongo_server(services_dir: Path) -> Iterator[str]:
    """URI of the session's MongoDB-protocol server, without a database name."""
    external = os.environ.get("FLAMENCO_TEST_MONGO_URI")
    if external:
        yield external
        return
    svc = services.start_ferretdb(services_dir / "ferretdb")
    try:
        yield svc.url
    finally:
        svc.stop()


def with_database(server_uri: str, database: str) -> str:
    """Put ``database`` into the path of a MongoDB URI, keeping its options."""
    parts = urlsplit(server_uri)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


@pytest.fixture
def mongo_uri(mongo_server: str) -> Iterator[str]:
    """URI of a fresh, empty database for this test; dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:16]
    yield with_database(mongo_server, name)
    with pymongo.MongoClient(mongo_server) as client:
        client.drop_database(name)


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
