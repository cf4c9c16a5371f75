"""First-run set-up of a local farm: accounts, project, manager, config files.

Everything created here is remembered in ``<data dir>/credentials.json``
(mode 0600, like every file of the farm holding a secret, in 0700
directories), so later runs reuse the same admin, project and manager, and
the banner can show the token again. The server's database keeps only token
hashes; this file is the farm operator's copy, like a manager's own
``manager_secret`` in its YAML file.
"""
from __future__ import annotations

import asyncio
import configparser
import io
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import pymongo
from pymongo.database import Database
import yaml

from flamenco import managers, projects, users
from flamenco.auth import roles, tokens

if TYPE_CHECKING:
    from flamenco.farm.farm import FarmConfig

ADMIN_USERNAME = "admin"
PROJECT_NAME = "Local farm"
MANAGER_NAME = "Local manager"
# Files holding a secret (tokens, passwords, SECRET_KEY) and the directories
# holding them: owner only. A task running as another local user must not
# read the admin's credentials (issue 13).
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
# Task types the local workers announce: everything a blender-render job with
# a video needs, plus the sleep/debug types of the test job types.
WORKER_TASK_TYPES = "sleep blender-render file-management exr-merge video-encoding debug"
# A worker's credentials (id and secret), in its own directory.
WORKER_CREDENTIALS_FILE = "credentials.cfg"


@dataclass
class Credentials:
    """What a farm needs to remember between runs."""

    username: str
    password: str
    token: str
    project_id: str
    manager_id: str
    manager_token: str
    # The manager's worker registration PSK; only the farm uses it (register_worker).
    worker_registration_secret: str = ""
    # The manager's dashboard and /metrics password.
    manager_dashboard_password: str = ""


def with_database(server_uri: str, database: str) -> str:
    """Put ``database`` into the path of a MongoDB URI, keeping its options."""
    parts = urlsplit(server_uri)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) as a directory only the owner may enter.

    Created with mode 0700 in one step; an existing directory that others may
    read (an older farm made 0755 ones) is narrowed to 0700.
    """
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(PRIVATE_DIR_MODE)
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by the owner only (0600, in a 0700 directory), atomically.

    The file is created with its final mode by ``os.open`` (never written
    first and narrowed later), through an exclusive temporary file so a
    leftover one with a wider mode is not reused.
    """
    private_dir(path.parent)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    tmp.replace(path)


def ensure_credentials(mongo_uri: str, path: Path, manager_url: str) -> Credentials:
    """Load the farm's credentials, creating accounts on the first run."""
    if path.exists():
        creds = Credentials(**json.loads(path.read_text()))
        if not (creds.worker_registration_secret and creds.manager_dashboard_password):  # an older farm
            creds.worker_registration_secret = creds.worker_registration_secret or secrets.token_urlsafe(32)
            creds.manager_dashboard_password = creds.manager_dashboard_password or secrets.token_urlsafe(12)
            write_private(path, json.dumps(asdict(creds), indent=2))
        return creds
    client: pymongo.MongoClient
    with pymongo.MongoClient(mongo_uri, tz_aware=True) as client:
        db: Database = client.get_default_database()
        password = secrets.token_urlsafe(12)
        user = users.create_user(db, ADMIN_USERNAME, roles_=(roles.ROLE_ADMIN, roles.ROLE_USER),
                                 password=password, full_name="Farm administrator")
        project = projects.create_project(db, PROJECT_NAME, members=[(user["_id"], projects.ROLE_ADMIN)])
        manager, manager_token = managers.create_manager(
            db, MANAGER_NAME, description=f"Started by flamenco farm at {manager_url}",
            owner=user["_id"], projects=[project["_id"]], enforce_limit=False)
        creds = Credentials(
            username=ADMIN_USERNAME, password=password,
            token=tokens.generate_token(db, user["_id"]),
            project_id=str(project["_id"]), manager_id=str(manager["_id"]),
            manager_token=manager_token, worker_registration_secret=secrets.token_urlsafe(32),
            manager_dashboard_password=secrets.token_urlsafe(12),
        )
    write_private(path, json.dumps(asdict(creds), indent=2))
    return creds


def write_manager_config(directory: Path, config: "FarmConfig", creds: Credentials,
                         database_url: str) -> Path:
    """Write ``flamenco-manager.yaml`` for the farm's manager; return its path."""
    settings: dict[str, object] = {
        "manager_name": MANAGER_NAME,
        "database_url": database_url,
        "task_logs_path": str(directory / "task-logs"),
        "listen": f"{config.host}:{config.manager_port}",
        "own_url": config.manager_url + "/",
        "flamenco": config.server_url + "/",
        "manager_id": creds.manager_id,
        "manager_secret": creds.manager_token,
        # A local farm has no network latency to hide: fetch new jobs quickly.
        "download_task_sleep": "30s",
        "download_task_recheck_throttle": "2s",
        "task_update_push_max_interval": "1s",
        "cancel_task_fetch_max_interval": "5s",
        "worker_registration_secret": creds.worker_registration_secret,
        "dashboard_password": creds.manager_dashboard_password,
    }
    if config.active_task_timeout:
        settings["active_task_timeout_interval"] = config.active_task_timeout
    if config.active_worker_timeout:
        settings["active_worker_timeout_interval"] = config.active_worker_timeout
    if config.active_task_timeout or config.active_worker_timeout:
        settings["timeout_check_grace"] = "0s"
        settings["timeout_check_interval"] = "2s"
    path = directory / "flamenco-manager.yaml"
    write_private(path, yaml.safe_dump(settings, sort_keys=False))
    return path


def write_worker_config(directory: Path, config: "FarmConfig") -> Path:
    """Write ``flamenco-worker.cfg`` for one local worker; return its path.

    Each worker keeps its own credentials file and update queue in its own
    directory: several workers on one machine must not share an identity.
    The registration secret is not in it: the farm registers its workers
    (:func:`register_worker`), so no worker, and no task, holds it.
    """
    parser = configparser.ConfigParser(interpolation=None)
    parser["flamenco-worker"] = {
        "manager_url": config.manager_url + "/",
        "task_types": WORKER_TASK_TYPES,
        "nickname": directory.name,
        "credentials_file": str(directory / WORKER_CREDENTIALS_FILE),
        "task_update_queue_db": str(directory / "flamenco-worker.db"),
        # Local farm: pick up new work quickly.
        "fetch_retry_no_task_seconds": "1",
        "fetch_after_task_seconds": "0.5",
        "fetch_retry_after_error_seconds": "2",
        "register_retry_seconds": "2",
        "may_i_run_interval_seconds": "2",
    }
    path = directory / "flamenco-worker.cfg"
    text = io.StringIO()
    parser.write(text)
    # Private: the worker keeps its credentials beside it.
    write_private(path, text.getvalue())
    return path


def register_worker(config_path: Path, registration_secret: str) -> Path:
    """Register the worker configured in ``config_path`` (or check its credentials); return its credentials file.

    The farm does this before starting the worker, with the worker's own
    registration code: a worker needs the registration secret only to
    register, and a task can read anything its worker holds. A worker whose
    credentials the manager later forgets cannot register again by itself
    (the manager answers 403 and it exits); the farm's next start registers
    it anew. Signing on here as well is harmless: the worker signs on again.
    """
    from flamenco_worker.config import load_config
    from flamenco_worker.registration import UnableToRegisterError, register_and_sign_on
    from flamenco_worker.upstream import ManagerClient

    worker_config = load_config(config_path, environ={},
                                overrides={"worker_registration_secret": registration_secret})

    async def register() -> None:
        client = ManagerClient(worker_config.manager_url, timeout=worker_config.http_timeout_seconds)
        try:
            await register_and_sign_on(client, worker_config)
        finally:
            await client.aclose()

    try:
        asyncio.run(register())
    except UnableToRegisterError as ex:
        raise RuntimeError(f"registering {config_path.parent.name} at the manager: {ex}") from None
    return worker_config.credentials_file
