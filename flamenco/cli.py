"""The ``flamenco`` command: run the server; other packages add their commands.

It imports nothing of the server until a server command runs, so a
workstation with only ``flamenco[client]`` installed can ``flamenco submit``.
Other parts add subcommands from their own packages: any ``flamenco.<package>.cli``
module is imported when the command starts and registers commands on
:data:`main` (``from flamenco.cli import main`` then ``@main.command()``),
or lists them in a module-level ``commands`` sequence.
"""
from __future__ import annotations

import gc
import importlib
import logging
import pkgutil
import sys
from pathlib import Path

import click

import flamenco
from flamenco import defaults

log = logging.getLogger(__name__)
# Where the packages that may add commands live.
PACKAGE_DIR = Path(flamenco.__file__).parent
# Container allocations (net of frees) between two young-generation collections
# of the serving process, instead of Python's 700 (tune_garbage_collector).
GC_YOUNG_THRESHOLD = 10_000


@click.group()
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def main(log_level: str) -> None:
    """Flamenco render-farm server and tools."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@click.option("--host", default=None, help=f"Address to listen on [default: HOST or {defaults.HOST}]")
@click.option("--port", default=None, type=int, help=f"Port to listen on [default: PORT or {defaults.PORT}]")
@click.option("--threads", default=None, type=int,
              help="Waitress worker threads for requests [default: SERVER_THREADS]; LIVE_STREAMS_MAX more "
                   "are added for the dashboard's live-update streams")
def server(host: str | None, port: int | None, threads: int | None) -> None:
    """Run the server with waitress (configuration from environment variables)."""
    try:
        import waitress

        from flamenco import app as server_app
    except ModuleNotFoundError as ex:
        raise click.ClickException(f"the server needs `pip install flamenco[server]` ({ex.name} is missing)") from None

    application = server_app.create_app()
    cfg = application.config
    host = host or cfg["HOST"]
    port = port or cfg["PORT"]
    if not cfg["SECRET_KEY"] or cfg["SECRET_KEY"] == defaults.SECRET_KEY:
        # Refused on every address: anyone who knows the published default can
        # forge session cookies, and a loopback server is still reachable by
        # every local user (and through port forwards).
        raise click.ClickException("set SECRET_KEY to a long random value (for example "
                                   "`python -c 'import secrets; print(secrets.token_hex(32))'`) before serving")
    click.echo(f"Flamenco server on http://{host}:{port}/", err=True)
    # Live-update streams hold a thread each for as long as a page is open:
    # give them their own, so they never starve API requests.
    threads = (threads or cfg["SERVER_THREADS"]) + cfg["LIVE_STREAMS_MAX"]
    tune_garbage_collector()
    waitress.serve(application, host=host, port=port, threads=threads, ident="flamenco")


def tune_garbage_collector() -> None:
    """Keep Python's cycle collector out of the requests; once, in the serving process.

    A Manager's batch of 1,000 updates holds thousands of containers until
    it is answered. With the defaults, a gc.callbacks probe in the server
    counted 251 young, 23 middle and 2 full collections over one
    bench_ingestion run; one full collection, 47 ms, fell inside a batch
    (2026-12-04). What
    exists once the app is built (modules, Eve's schemas) is frozen so no
    collection scans it again, and the young generation is collected every
    GC_YOUNG_THRESHOLD allocations. The Manager does the same
    (``flamenco_manager.engine.tune_garbage_collector``).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def load_command_modules() -> None:
    """Import every ``flamenco.<package>.cli`` so its commands join :data:`main`.

    A package whose dependencies are not installed (a workstation with only
    ``flamenco[client]`` has no pymongo, Flask or Redis) adds no commands, so
    ``flamenco submit`` works there; a missing module of our own is a bug and raises.
    """
    for info in pkgutil.iter_modules(flamenco.__path__):
        # Look for the file instead of asking find_spec, which would import
        # every server package just to start `flamenco submit`.
        if not info.ispkg or not (PACKAGE_DIR / info.name / "cli.py").exists():
            continue
        try:
            module = importlib.import_module(f"flamenco.{info.name}.cli")
        except ModuleNotFoundError as ex:
            if not ex.name or ex.name.split(".")[0] in ("flamenco", "flamenco_manager", "flamenco_worker"):
                raise
            log.debug("`flamenco %s` commands unavailable: %s is not installed", info.name, ex.name)
            continue
        for command in getattr(module, "commands", ()):
            main.add_command(command)


if __name__ == "__main__":
    # Under `python -m flamenco.cli` this file is `__main__`, a second copy;
    # run the canonical module's group, on which command modules register.
    from flamenco.cli import main as canonical_main

    sys.exit(canonical_main())
else:
    load_command_modules()
