"""``flamenco farm``: run a whole local farm (see :mod:`flamenco.farm.farm`)."""
from __future__ import annotations

from pathlib import Path

import click

from flamenco.farm import services
from flamenco.farm.farm import FarmConfig, run_farm


@click.command("farm")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help=f"Where all farm data lives [default: FLAMENCO_DATA_DIR or {services.DEFAULT_DATA_DIR}]")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(0, 64), help="Number of workers.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the server and manager listen on.")
@click.option("--server-port", type=int, default=None, help="[default: FLAMENCO_SERVER_PORT or 8080]")
@click.option("--manager-port", type=int, default=None, help="[default: FLAMENCO_MANAGER_PORT or 8081]")
@click.option("--task-timeout", default=None, metavar="DURATION",
              help="Manager's active-task timeout, e.g. 20s (production default 10m).")
@click.option("--worker-timeout", default=None, metavar="DURATION",
              help="Manager's worker-seen timeout, e.g. 10s (production default 1m).")
def farm(data_dir: Path | None, workers: int, host: str, server_port: int | None, manager_port: int | None,
         task_timeout: str | None, worker_timeout: str | None) -> None:
    """Run the data store, Redis, Celery, server, one manager and N workers until Ctrl-C.

    MONGO_URI and REDIS_URL, when set, are used instead of starting FerretDB and Redis.
    Started by root, worker N runs as system user flamenco-worker-N (group
    flamenco-worker): job files and output directories must be readable and
    writable by that group (README, SECURITY.md).
    """
    config = FarmConfig(workers=workers, host=host, active_task_timeout=task_timeout,
                        active_worker_timeout=worker_timeout)
    if data_dir is not None:
        config.data_dir = data_dir
    if server_port is not None:
        config.server_port = server_port
    if manager_port is not None:
        config.manager_port = manager_port
    run_farm(config)


commands = [farm]
