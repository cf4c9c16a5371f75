"""``flamenco-worker``: the command line of the worker (reference B.9).

Signals: SIGINT / SIGTERM shut down cleanly (the running task is stopped and
returned, the queue flushed, then sign-off); SIGUSR1 sends the worker to
sleep, SIGUSR2 wakes it up.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import signal
import sqlite3
import sys
from pathlib import Path

import click

from flamenco_protocol.statuses import WorkerStatus
from flamenco_worker import __version__, defaults
from flamenco_worker.clock import SYSTEM_CLOCK
from flamenco_worker.config import ConfigError, WorkerConfig, load_config
from flamenco_worker.registration import UnableToRegisterError
from flamenco_worker.ssdp import DiscoveryError, discover_manager
from flamenco_worker.update_queue import UpdateQueue
from flamenco_worker.upstream import ManagerClient
from flamenco_worker.worker import FlamencoWorker

log = logging.getLogger("flamenco_worker")

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def install_signal_handlers(worker: FlamencoWorker) -> list[signal.Signals]:
    """Route the worker's signals into its event loop; returns what to remove afterwards."""
    loop = asyncio.get_running_loop()
    handlers = {
        signal.SIGINT: worker.request_shutdown,
        signal.SIGTERM: worker.request_shutdown,
        signal.SIGUSR1: lambda: worker.request_status(WorkerStatus.ASLEEP),
        signal.SIGUSR2: lambda: worker.request_status(WorkerStatus.AWAKE),
    }
    for signum, handler in handlers.items():
        loop.add_signal_handler(signum, handler)
    return list(handlers)


async def run_worker(config: WorkerConfig, *, single: bool = False, test_mode: bool = False) -> int:
    """Run a worker until it shuts down; returns the process exit code."""
    client = ManagerClient(config.manager_url, timeout=config.http_timeout_seconds)
    try:
        queue = UpdateQueue(config.task_update_queue_db, client, backoff_seconds=config.queue_backoff_seconds,
                            clock=SYSTEM_CLOCK)
    except (sqlite3.Error, OSError) as ex:
        log.error("cannot open task_update_queue_db %s: %s", config.task_update_queue_db, ex)
        await client.aclose()
        return defaults.CONFIG_ERROR_EXIT_CODE
    worker = FlamencoWorker(config, client, queue, single=single, test_mode=test_mode, clock=SYSTEM_CLOCK)
    installed = install_signal_handlers(worker)
    try:
        await worker.run()
        return 0
    except UnableToRegisterError as ex:
        log.error("unable to register at %s: %s", config.manager_url, ex)
        return defaults.REGISTRATION_FAILED_EXIT_CODE
    finally:
        loop = asyncio.get_running_loop()
        for signum in installed:
            loop.remove_signal_handler(signum)
        queue.close()
        await client.aclose()


@click.command()
@click.option("-c", "--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
              help=f"Read this file instead of ./{defaults.CONFIG_FILE}.")
@click.option("-v", "--verbose", is_flag=True, help="Print the effective configuration; asyncio debug mode.")
@click.option("-r", "--reregister", is_flag=True, help="Forget the stored worker id and secret and register again.")
@click.option("-d", "--debug", is_flag=True, help="Log at DEBUG level.")
@click.option("-t", "--test", "test_mode", is_flag=True, help="Test mode: only run test tasks.")
@click.option("-1", "--single", is_flag=True, help="Run one task, then stop.")
@click.version_option(__version__, "-V", "--version", prog_name="flamenco-worker")
def main(config_file: Path | None, verbose: bool, reregister: bool, debug: bool, test_mode: bool, single: bool) -> None:
    """Run a Flamenco worker: fetch tasks from a Flamenco manager and execute them.

    Settings come from ./flamenco-worker.cfg (or -c FILE), the credentials
    file, and FLAMENCO_WORKER_<KEY> environment variables.
    """
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    if debug:
        log.setLevel(logging.DEBUG)
    else:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request drowns the rest
    overrides: dict[str, object] = {}
    if reregister:
        overrides.update(worker_id="", worker_secret="")
    if test_mode:
        overrides["task_types"] = defaults.TEST_TASK_TYPES
    try:
        config = load_config(config_file, overrides=overrides)
    except ConfigError as ex:
        click.echo(f"flamenco-worker: configuration error: {ex}", err=True)
        sys.exit(defaults.CONFIG_ERROR_EXIT_CODE)
    if not config.manager_url:
        try:
            config = dataclasses.replace(config, manager_url=discover_manager(config))
        except DiscoveryError as ex:
            click.echo(f"flamenco-worker: {ex}", err=True)
            sys.exit(defaults.DISCOVERY_FAILED_EXIT_CODE)
    if verbose:
        click.echo(json.dumps(config.redacted(), indent=2, default=str))
    log.info("Flamenco Worker %s, manager %s", __version__, config.manager_url)
    sys.exit(asyncio.run(run_worker(config, single=single, test_mode=test_mode), debug=verbose))



if __name__ == "__main__":  # ``python -m flamenco_worker.cli``, as the local farm starts workers
    main()
