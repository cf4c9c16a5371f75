"""``flamenco-manager``: serve the worker API, run the sync daemon, or both.

    flamenco-manager serve      worker API + dashboard (start several if you like)
    flamenco-manager sync       the sync daemon (exactly one per manager database)
    flamenco-manager run        both in one process
    flamenco-manager cleanslate forget all cached tasks (next download is complete)
    flamenco-manager purgequeue drop all updates waiting for the Server (loses data)
    flamenco-manager show-config print the effective settings

Settings: ``--config FILE`` (default ./flamenco-manager.yaml if present), then
``FLAMENCO_MANAGER_<KEY>`` environment variables; see ``defaults.py``.
"""
from __future__ import annotations

import logging
import signal
import sys
import threading

import click
import waitress
import yaml

from flamenco_manager import db as dbmod
from flamenco_manager import ssdp
from flamenco_manager.app import create_app
from flamenco_manager.config import Config, ConfigError, load_config
from flamenco_manager.context import ManagerContext
from flamenco_manager.sync import SyncDaemon, clean_slate


# Settings never printed in full.
SECRET_SETTINGS = ("manager_secret", "worker_registration_secret", "dashboard_password")


def _context(config_path: str | None) -> ManagerContext:
    try:
        config = load_config(config_path)
    except ConfigError as ex:
        raise click.ClickException(f"configuration error: {ex}") from None
    try:
        return ManagerContext.create(config)
    except Exception as ex:  # noqa: BLE001 - report any start-up failure plainly
        raise click.ClickException(f"cannot use database {config.database_url}: {ex}") from None


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
    def handler(signum, _frame):
        stop.set()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


def _serve(ctx: ManagerContext, stop: threading.Event) -> None:
    host, port = _host_port(ctx.config)
    server = waitress.create_server(create_app(ctx), host=host, port=port, threads=ctx.config.http_threads)
    threading.Thread(target=lambda: (stop.wait(), server.close()), daemon=True).start()
    click.echo(f"Flamenco Manager serving workers on http://{host}:{port}/", err=True)
    responder = ssdp.start_responder(ctx.config)
    try:
        server.run()
    except (OSError, ValueError):
        if not stop.is_set():
            raise
    finally:
        if responder:
            responder.stop()


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
    """Serve the worker API and the dashboard."""
    stop = threading.Event()
    _stop_on_signals(stop)
    _serve(_context(config_path), stop)


@main.command()
@click.pass_obj
def sync(config_path: str | None) -> None:
    """Run the sync daemon (one per manager database)."""
    ctx = _context(config_path)
    _require_link(ctx)
    stop = threading.Event()
    _stop_on_signals(stop)
    SyncDaemon(ctx).run(stop)


@main.command()
@click.pass_obj
def run(config_path: str | None) -> None:
    """Serve the API and run the sync daemon in one process."""
    ctx = _context(config_path)
    _require_link(ctx)
    stop = threading.Event()
    _stop_on_signals(stop)
    daemon = threading.Thread(target=SyncDaemon(ctx).run, args=(stop,), name="sync", daemon=True)
    daemon.start()
    _serve(ctx, stop)
    daemon.join(timeout=10)


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
    if yes or click.confirm("Remove all cached tasks?"):
        click.echo(f"removed {clean_slate(ctx)} cached tasks")


@main.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def purgequeue(config_path: str | None, yes: bool) -> None:
    """Drop every update waiting to be pushed to the Server (this loses data)."""
    ctx = _context(config_path)
    if yes or click.confirm("Drop all queued task updates? The Server will never see them."):
        click.echo(f"dropped {ctx.db[dbmod.UPDATE_QUEUE].delete_many({}).deleted_count} queued updates")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
