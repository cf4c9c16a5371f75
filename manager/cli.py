"""``flamenco-manager``: run the manager (worker API, dashboard and sync daemon in one process).

    flamenco-manager run        worker API + dashboard + sync daemon (one process per manager database)
    flamenco-manager serve      worker API + dashboard without talking to the Server
    flamenco-manager cleanslate forget all cached tasks (next download is complete)
    flamenco-manager purgequeue drop all updates waiting for the Server (loses data)
    flamenco-manager show-config print the effective settings

Settings: ``--config FILE`` (default ./flamenco-manager.yaml if present), then
``FLAMENCO_MANAGER_<KEY>`` environment variables; see ``defaults.py``.
"""
from __future__ import annotations

import logging
import os
import secrets
import signal
import sys
import threading
from pathlib import Path
from typing import Callable

import click
import yaml

from flamenco_manager import ssdp, update_queue
from flamenco_manager.app import start_serving
from flamenco_manager.config import Config, ConfigError, load_config
from flamenco_manager.defaults import CONFIG_FILENAME, ENV_PREFIX
from flamenco_manager.context import ManagerContext
from flamenco_manager.engine import tune_garbage_collector
from flamenco_manager.store import DispatchOwned
from flamenco_manager.sync import SyncDaemon, clean_slate


# How long stopping waits for the sync daemon to finish its current step (an HTTP call at most).
DAEMON_STOP_SECONDS = 10
# Settings never printed in full.
SECRET_SETTINGS = ("manager_secret", "worker_registration_secret", "dashboard_password")
# Beside the config file: the registration secret generated on a first run without one.
GENERATED_SECRET_FILENAME = "worker-registration-secret"
# Random bytes of a generated registration secret (43 URL-safe characters).
GENERATED_SECRET_BYTES = 32


def _context(config_path: str | None) -> ManagerContext:
    try:
        config = _with_registration_secret(load_config(config_path), config_path)
    except ConfigError as ex:
        raise click.ClickException(f"configuration error: {ex}") from None
    try:
        return ManagerContext.create(config)
    except DispatchOwned as ex:
        raise click.ClickException(f"refusing to start: {ex}") from None
    except Exception as ex:  # noqa: BLE001 - report any start-up failure plainly
        raise click.ClickException(f"cannot use database {config.database_url}: {ex}") from None


def _with_registration_secret(config: Config, config_path: str | None) -> Config:
    """A first run without a registration secret (and not deliberately open) gets one generated.

    Open registration let anyone who reaches the manager register a worker and
    take real tasks (issue 13), so the manager never runs open by default. The
    secret goes into a 0600 file beside the config file, never into the log:
    the operator copies it into the workers' configs (``worker_registration_secret``),
    and the next runs read it back. Without a config file there is nowhere to
    keep it: registration is then refused until a secret is set.
    """
    if config.worker_registration_secret or config.worker_registration_open:
        return config
    named = config_path or os.environ.get(ENV_PREFIX + "CONFIG") or (
        CONFIG_FILENAME if Path(CONFIG_FILENAME).exists() else None)
    if not named:
        return config
    path = Path(named).resolve().with_name(GENERATED_SECRET_FILENAME)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(GENERATED_SECRET_BYTES) + "\n")
        click.echo(f"Generated a worker registration secret in {path} (mode 0600): set it as "
                   f"worker_registration_secret in your workers' configuration.", err=True)
    return config.replace(worker_registration_secret=path.read_text().strip())


def _require_link(ctx: ManagerContext) -> None:
    """The sync daemon needs to know which Server manager it is."""
    missing = [key for key in ("manager_id", "manager_secret") if not getattr(ctx.config, key)]
    if missing:
        raise click.ClickException(f"{' and '.join(missing)} must be set to talk to the Server "
                                   f"at {ctx.config.flamenco} (config file or FLAMENCO_MANAGER_<KEY>)")


def _host_port(config: Config) -> tuple[str, int]:
    host, _, port = config.listen.rpartition(":")
    return host or "0.0.0.0", int(port)


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, _frame: object) -> None:
        stop.set()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


def _serve(ctx: ManagerContext, stop: threading.Event, before_close: Callable[[], None] = lambda: None) -> None:
    """Serve until ``stop`` is set, then write what is left and release the database.

    ``before_close`` runs once serving has stopped and before the context
    closes: what else uses the context (the sync daemon) stops there, so it
    never runs a step on a closed engine or store.
    """
    host, port = _host_port(ctx.config)
    try:
        serving = start_serving(ctx, host, port)
    except OSError as ex:
        ctx.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {ex}") from None
    click.echo(f"Flamenco Manager serving workers on http://{host}:{port}/", err=True)
    tune_garbage_collector()
    responder = ssdp.start_responder(ctx.config)
    try:
        while not stop.wait(1.0):
            if ctx.engine.lost_lock.is_set():
                click.echo("another process took over this manager's database; stopping", err=True)
                break
    finally:
        if responder:
            responder.stop()
        serving.stop()
        before_close()
        ctx.close()


@click.group()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="YAML settings file (default: ./flamenco-manager.yaml if present).")
@click.option("--debug", is_flag=True, help="Log at debug level.")
@click.pass_context
def main(click_ctx: click.Context, config_path: str | None, debug: bool) -> None:
    """Flamenco Manager."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    click_ctx.obj = config_path


@main.command()
@click.pass_obj
def serve(config_path: str | None) -> None:
    """Serve the worker API and the dashboard, without the sync daemon (no Server)."""
    stop = threading.Event()
    _stop_on_signals(stop)
    _serve(_context(config_path), stop)


@main.command()
@click.pass_obj
def run(config_path: str | None) -> None:
    """Serve the API and run the sync daemon in one process (the one process of this database)."""
    ctx = _context(config_path)
    try:
        _require_link(ctx)
    except click.ClickException:
        ctx.close()
        raise
    stop = threading.Event()
    _stop_on_signals(stop)
    daemon_stop = threading.Event()
    daemon = threading.Thread(target=SyncDaemon(ctx).run, args=(daemon_stop,), name="sync", daemon=True)
    daemon.start()

    def stop_daemon() -> None:
        daemon_stop.set()
        daemon.join(timeout=DAEMON_STOP_SECONDS)

    try:
        _serve(ctx, stop, before_close=stop_daemon)
    finally:
        stop_daemon()  # also when serving never started


@main.command("show-config")
@click.pass_obj
def show_config(config_path: str | None) -> None:
    """Print the effective settings as YAML (secrets masked): every default, documented in defaults.py."""
    try:
        values = load_config(config_path).as_dict()
    except ConfigError as ex:
        raise click.ClickException(f"configuration error: {ex}") from None
    for key in SECRET_SETTINGS:
        if values.get(key):
            values[key] = "********"
    click.echo(yaml.safe_dump(values, sort_keys=True))


@main.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def cleanslate(config_path: str | None, yes: bool) -> None:
    """Forget every cached task; the next depsgraph download is a complete one."""
    ctx = _context(config_path)
    try:
        if yes or click.confirm("Remove all cached tasks?"):
            click.echo(f"removed {clean_slate(ctx)} cached tasks")
    finally:
        ctx.close()


@main.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def purgequeue(config_path: str | None, yes: bool) -> None:
    """Drop every update waiting to be pushed to the Server (this loses data)."""
    ctx = _context(config_path)
    try:
        if yes or click.confirm("Drop all queued task updates? The Server will never see them."):
            click.echo(f"dropped {update_queue.purge(ctx)} queued updates")
    finally:
        ctx.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
