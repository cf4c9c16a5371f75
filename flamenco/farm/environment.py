"""The environment each child of a local farm starts with, built on purpose (issues 13 and 14).

The farm's own knobs (``FLAMENCO_MANAGER_PORT``, ...) share their prefix with
the components' override namespaces: passed on, ``FLAMENCO_MANAGER_PORT``
reached the manager as an unknown setting ``port`` and stopped the farm. So
the services get the farm's environment *minus* the farm's knobs (a user's
deliberate ``FLAMENCO_MANAGER_<KEY>`` still reaches the manager), and the
workers, whose tasks run whatever a job says, get only what a program needs
to run (``PATH``, locale, time zone) and their own ``HOME``: no token,
password, registration secret, database URI or ``SECRET_KEY`` can reach a
task through its environment. Everything a farm worker needs to know is in
its own config file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

# The farm's own settings read from its environment (defaults in farm.py and services.py).
DATA_DIR_VARIABLE = "FLAMENCO_DATA_DIR"
SERVER_PORT_VARIABLE = "FLAMENCO_SERVER_PORT"
MANAGER_PORT_VARIABLE = "FLAMENCO_MANAGER_PORT"
FARM_VARIABLES = frozenset({DATA_DIR_VARIABLE, SERVER_PORT_VARIABLE, MANAGER_PORT_VARIABLE})
# Variables a worker (and so every task) inherits from the farm: what finding
# and running programs needs, nothing that grants access to anything.
WORKER_PASSED_VARIABLES = frozenset({"PATH", "LANG", "LANGUAGE", "TZ", "PYTHONPATH"})
WORKER_PASSED_PREFIXES = ("LC_",)
# Python children write their logs as they go, so a crash leaves its last lines.
UNBUFFERED = {"PYTHONUNBUFFERED": "1"}


def service_environment(environ: Mapping[str, str], settings: Mapping[str, str] | None = None) -> dict[str, str]:
    """For the server, Celery and the manager: the farm's environment without its own knobs, plus ``settings``."""
    env = {name: value for name, value in environ.items() if name not in FARM_VARIABLES}
    return env | UNBUFFERED | dict(settings or {})


def worker_environment(environ: Mapping[str, str], home: Path, user: str) -> dict[str, str]:
    """For a worker and the tasks it runs: an allow-list of ``environ``, its own home and user name."""
    env = {name: value for name, value in environ.items()
           if name in WORKER_PASSED_VARIABLES or name.startswith(WORKER_PASSED_PREFIXES)}
    return env | UNBUFFERED | {"HOME": str(home), "USER": user, "LOGNAME": user}
