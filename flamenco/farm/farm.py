"""``flamenco farm``: a whole render farm on one machine, started by one command.

Starts, in order: the data store (FerretDB on SQLite, unless ``MONGO_URI`` is
set), Redis (unless ``REDIS_URL`` is set), the server, a Celery worker with
beat, one manager linked to the server, and N workers. On first run it creates
an admin user, a project, the manager's account and an API token, and keeps
them (and all data) in one data dir, so the next run continues where the last
one stopped. Ctrl-C (SIGINT) or SIGTERM stops every process it started, and
everything those started, in stages: workers, manager, server and Celery,
data stores.

Crashed server, Celery and manager processes are restarted (what systemd's
``Restart=on-failure`` would do in production); crashed workers are not, so a
dead render node shows up as a dead node and its task fails over by timeout.
Either way the farm prints the end of the dead process's log.

Each child gets an environment built for it (:mod:`flamenco.farm.environment`).
Workers hold nothing but their own credentials: the farm registers them
itself, and when started by root runs each as its own unprivileged account
(:mod:`flamenco.farm.identities`), so a task cannot read the farm's secrets.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import shlex
import shutil
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

from flamenco.farm import bootstrap, environment, identities, services
from flamenco.farm.supervisor import Child, Supervisor, describe_exit, python_module

# Seconds between a crashed server/manager/Celery process and its restart.
# Long enough not to spin on a crash loop, short enough for a test to wait out.
DEFAULT_RESTART_DELAY = 2.0
# Random bytes of a generated SECRET_KEY (signs session cookies and CSRF tokens).
SECRET_KEY_BYTES = 32
# Children that are restarted when they die; workers are deliberately absent.
RESTARTED_ROLES = ("server", "celery", "manager")
# Stop stages (Supervisor.stop_all stops the highest first, one stage's children
# together): workers sign off from the manager, the manager pushes its last
# updates to the server, and the stores go last. A restarted child keeps its
# stage, so the order holds after restarts too.
STAGE_STORES, STAGE_SERVICES, STAGE_MANAGER, STAGE_WORKERS = range(4)
# Seconds FerretDB and Redis get between SIGTERM and SIGKILL. Redis saves its
# snapshot on SIGTERM, and refuses to exit when it cannot (its directory was
# removed): after this long it is killed instead of holding up the stop.
STORE_STOP_GRACE_SECONDS = 5.0


@dataclass
class FarmConfig:
    """Every knob of the local farm; defaults come from the environment."""

    data_dir: Path = field(default_factory=lambda: services.DEFAULT_DATA_DIR)
    workers: int = 2
    host: str = "127.0.0.1"
    server_port: int = field(default_factory=lambda: int(os.environ.get(environment.SERVER_PORT_VARIABLE, "8080")))
    manager_port: int = field(default_factory=lambda: int(os.environ.get(environment.MANAGER_PORT_VARIABLE,
                                                                         "8081")))
    mongo_uri: str | None = field(default_factory=lambda: os.environ.get("MONGO_URI"))
    redis_url: str | None = field(default_factory=lambda: os.environ.get("REDIS_URL"))
    # Manager timeouts, shortened by the fault tests so a dead worker's task
    # is requeued in seconds instead of the production default of minutes.
    active_task_timeout: str | None = None
    active_worker_timeout: str | None = None
    restart_delay: float = DEFAULT_RESTART_DELAY

    @property
    def server_url(self) -> str:
        return f"http://{self.host}:{self.server_port}"

    @property
    def manager_url(self) -> str:
        return f"http://{self.host}:{self.manager_port}"


@dataclass
class FarmState:
    """What ``<data dir>/farm-state.json`` tells scripts and tests about a running farm."""

    server_url: str
    manager_url: str
    dashboard_url: str
    token: str
    username: str
    password: str
    project_id: str
    manager_id: str
    pids: dict[str, int]
    manager_dashboard_password: str = ""
    # Where the workers keep their config and credentials (outside the data
    # dir when the farm runs them as other users).
    worker_homes: str = ""


class Farm:
    """The running farm: its config, supervisor and credentials."""

    def __init__(self, config: FarmConfig) -> None:
        self.config = config
        self.data_dir = config.data_dir.resolve()
        # Owner only: it holds the farm's secrets, the store's files and the logs.
        bootstrap.private_dir(self.data_dir)
        self.supervisor = Supervisor(self.data_dir / "logs")
        self.worker_homes = identities.worker_homes_dir(self.data_dir)
        self.env: dict[str, str] = {}
        self.creds: bootstrap.Credentials | None = None

    # -- services ---------------------------------------------------------
    def start_stores(self) -> None:
        mongo = self.config.mongo_uri
        if not mongo:
            svc = services.start_ferretdb(self.data_dir / "ferretdb")
            self.supervisor.adopt("ferretdb", svc.process, svc.log_path, stage=STAGE_STORES,
                                  grace=STORE_STOP_GRACE_SECONDS)
            mongo = services.mongo_uri_for(svc.extra["port"])
        redis_url = self.config.redis_url
        if not redis_url:
            svc = services.start_redis(self.data_dir / "redis")
            self.supervisor.adopt("redis", svc.process, svc.log_path, stage=STAGE_STORES,
                                  grace=STORE_STOP_GRACE_SECONDS)
            redis_url = svc.url + "/0"
        self.env = {
            "MONGO_URI": bootstrap.with_database(mongo, "flamenco"),
            "REDIS_URL": redis_url,
            "SECRET_KEY": ensure_secret_key(self.data_dir / "secret_key"),
            "FLAMENCO_STORAGE_DIR": str(self.data_dir / "storage"),
        }
        self.manager_mongo_uri = bootstrap.with_database(mongo, "flamenco_manager")

    # -- tiers --------------------------------------------------------------
    def start_server(self) -> Child:
        return self.supervisor.start(
            "server",
            python_module("flamenco.cli", "server", "--host", self.config.host,
                          "--port", str(self.config.server_port)),
            env=environment.service_environment(os.environ, self.env), stage=STAGE_SERVICES,
        )

    def start_celery(self) -> Child:
        return self.supervisor.start(
            "celery",
            python_module("celery", "-A", "flamenco.celery", "worker", "--beat",
                          "--concurrency=1", "--loglevel=INFO",
                          f"--schedule={self.data_dir / 'celerybeat-schedule'}"),
            env=environment.service_environment(os.environ, self.env), stage=STAGE_SERVICES,
        )

    def start_manager(self) -> Child:
        assert self.creds is not None
        config_path = bootstrap.write_manager_config(self.data_dir / "manager", self.config, self.creds,
                                                     self.manager_mongo_uri)
        return self.supervisor.start(
            "manager", python_module("flamenco_manager.cli", "--config", str(config_path), "run"),
            env=environment.service_environment(os.environ), cwd=config_path.parent, stage=STAGE_MANAGER,
        )

    def start_worker(self, index: int) -> Child:
        """Start worker ``index`` in its own home, registered by the farm, as its own user when root."""
        assert self.creds is not None
        name = f"worker-{index}"
        identity = identities.worker_identity(index) if identities.isolating() else None
        home = identities.prepare_home(self.worker_homes / name, identity)
        config_path = bootstrap.write_worker_config(home, self.config)
        credentials = bootstrap.register_worker(config_path, self.creds.worker_registration_secret)
        for path in (config_path, credentials):
            identities.hand_over(path, identity)
        user = identity.name if identity else os.environ.get("USER", "")
        return self.supervisor.start(
            name, identities.python_module_as(identity, "flamenco_worker.cli", "--config", str(config_path)),
            env=environment.worker_environment(os.environ, home, user), cwd=home, run_as=identity,
            stage=STAGE_WORKERS,
        )

    def start(self) -> FarmState:
        """Start everything and return the farm's state (also written to disk)."""
        bootstrap.private_dir(self.data_dir)
        self.start_stores()
        self.creds = bootstrap.ensure_credentials(self.env["MONGO_URI"], self.data_dir / "credentials.json",
                                                  self.config.manager_url)
        self.start_server()
        self.supervisor.wait_until(lambda: http_ok(self.config.server_url + "/api/"), "the server")
        self.start_celery()
        self.start_manager()
        self.supervisor.wait_until(lambda: http_ok(self.config.manager_url + "/"), "the manager")
        for index in range(1, self.config.workers + 1):
            self.start_worker(index)
        return self.write_state()

    def write_state(self) -> FarmState:
        assert self.creds is not None
        state = FarmState(
            server_url=self.config.server_url,
            manager_url=self.config.manager_url,
            dashboard_url=self.config.server_url + "/",
            token=self.creds.token,
            username=self.creds.username,
            password=self.creds.password,
            project_id=self.creds.project_id,
            manager_id=self.creds.manager_id,
            pids={c.name: c.process.pid for c in self.supervisor.children},
            manager_dashboard_password=self.creds.manager_dashboard_password,
            worker_homes=str(self.worker_homes),
        )
        # Holds the admin's token and password: owner only.
        bootstrap.write_private(self.data_dir / "farm-state.json", json.dumps(asdict(state), indent=2))
        return state

    def handle_exits(self) -> list[str]:
        """Restart dead server/Celery/manager children, let go of other dead ones; say what happened.

        Each message names the child and ends with its log's last lines, so
        an operator sees why without opening the log.
        """
        messages = []
        for child in self.supervisor.exited():
            # With what is left of its process group: a killed Celery's
            # beat would go on beside its restarted successor's.
            self.supervisor.release(child)
            if child.name in RESTARTED_ROLES:
                time.sleep(self.config.restart_delay)
                getattr(self, f"start_{child.name}")()
                messages.append(f"{describe_exit(child)}\nrestarted {child.name}")
            else:
                messages.append(f"{describe_exit(child)}\n{child.name} is not restarted")
        if messages:
            self.write_state()
        return messages

    def stop(self) -> None:
        self.supervisor.stop_all()
        (self.data_dir / "farm-state.json").unlink(missing_ok=True)


def ensure_secret_key(path: Path) -> str:
    """The server's SECRET_KEY kept in ``path`` (0600), generated on first use.

    A key file an older farm left readable by others is narrowed to 0600.
    """
    if not path.exists():
        bootstrap.write_private(path, secrets.token_hex(SECRET_KEY_BYTES))
    elif path.stat().st_mode & 0o077:
        path.chmod(bootstrap.PRIVATE_FILE_MODE)
    return path.read_text().strip()


def http_ok(url: str) -> bool:
    """True when ``url`` answers at all (any status below 500)."""
    return requests.get(url, timeout=2).status_code < 500


def flamenco_command() -> str:
    """How the user runs the ``flamenco`` command of this installation, from any shell.

    ``flamenco`` when PATH finds this very script; else the script's absolute
    path beside the interpreter (a virtualenv's bin/ is often not on PATH);
    else ``python -m flamenco.cli`` with this interpreter.
    """
    script = Path(sys.executable).parent / "flamenco"
    found = shutil.which("flamenco")
    if not script.exists():
        return f"{shlex.quote(sys.executable)} -m flamenco.cli"
    if found and os.path.samefile(found, script):
        return "flamenco"
    return shlex.quote(str(script))


def print_banner(state: FarmState, config: FarmConfig) -> None:
    print(f"""
Flamenco farm is running ({config.workers} workers). Data: {config.data_dir}
  Dashboard: {state.dashboard_url}   (user {state.username!r}, password {state.password!r})
  API token: {state.token}
  Manager:   {state.manager_url}   (dashboard password {state.manager_dashboard_password!r}, any user name)
Submit a job:  FLAMENCO_SERVER={state.server_url} FLAMENCO_TOKEN={state.token} {flamenco_command()} submit blender-render FILE.blend ...
Press Ctrl-C to stop everything.""", flush=True)


def run_farm(config: FarmConfig) -> None:
    """Start the farm, keep crashed services up, stop everything on Ctrl-C/SIGTERM."""
    farm = Farm(config)
    # The farm registers its workers over HTTP: one log line per request is noise here.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # Explicitly, also for SIGINT: a program started as a background job of a
    # non-interactive shell (CI running `./dev test`) inherits SIGINT
    # *ignored*, and Python then installs no KeyboardInterrupt handler. The
    # test farms were stopped with SIGINT and ignored it: every farm test waited
    # a minute for it and then killed the farm, leaking its server and stores.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        state = farm.start()
        print_banner(state, config)
        while True:
            time.sleep(1)
            for message in farm.handle_exits():
                print(message, flush=True)
    except KeyboardInterrupt:
        print("\nStopping the farm...", flush=True)
    except RuntimeError as err:
        print(f"flamenco farm: {err}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    finally:
        # The stop is bounded (each child's grace, then SIGKILL); a second
        # Ctrl-C must not abort it half-way and leave the rest running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        farm.stop()
