"""The server database and settings as seen from a Celery worker process.

Configuration comes from ``flamenco.app.load_config`` (defaults, then
environment), so the worker reads the same ``MONGO_URI``/``REDIS_URL`` as the
server. One MongoClient per process: PyMongo clients must not cross a fork.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import pymongo
from pymongo.database import Database

from flamenco.manager_api import storage

_clients: dict[tuple[int, str], pymongo.MongoClient] = {}


@functools.cache
def config() -> dict[str, Any]:
    """The server configuration (defaults overridden by the environment)."""
    from flamenco.app import load_config

    return load_config()


def database(mongo_uri: str | None = None) -> Database:
    """The server database, from ``mongo_uri`` or the configured ``MONGO_URI``."""
    uri = mongo_uri or config()["MONGO_URI"]
    key = (os.getpid(), uri)
    client = _clients.get(key)
    if client is None:
        from flamenco.app import mongo_client_options

        client = pymongo.MongoClient(uri, **mongo_client_options(config()))
        _clients[key] = client
    return client.get_default_database()


def storage_root() -> Path:
    """The storage directory (archives, uploaded task logs)."""
    return storage.storage_dir(config())
