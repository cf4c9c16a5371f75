"""The Manager installs as `flamenco[manager]`: none of its modules needs the server (setup.py's extras).

What the server and the Manager share (statuses, job requirements, OpenAPI
building blocks) is in ``flamenco_protocol``; the ``flamenco`` package is the server's.
"""
from __future__ import annotations

import json
import subprocess
import sys

from tests.support.server import REPO_ROOT

# Imports every module of flamenco_manager in this fresh interpreter; prints them and the server modules loaded.
IMPORT_EVERY_MODULE = """
import importlib, json, pkgutil, sys
import flamenco_manager
names = sorted(m.name for m in pkgutil.walk_packages(flamenco_manager.__path__, "flamenco_manager."))
for name in names:
    importlib.import_module(name)
server = sorted(m for m in sys.modules if m == "flamenco" or m.startswith("flamenco."))
print(json.dumps({"imported": names, "server": server}))
"""
# The same with the server's own dependencies made unimportable, as on a Manager-only install.
SERVER_ONLY = ("eve", "cerberus", "flask", "flask_login", "flask_wtf", "werkzeug", "celery", "redis", "waitress")
REFUSE_SERVER_PACKAGES = f"""
import importlib.abc, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {SERVER_ONLY!r}:  # as Python says it when the package is not installed
            raise ModuleNotFoundError("No module named " + repr(name), name=name)
        return None
sys.meta_path.insert(0, Refuse())
"""


def _import_every_module(prelude: str = "") -> dict[str, list[str]]:
    result = subprocess.run([sys.executable, "-c", prelude + IMPORT_EVERY_MODULE], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded: dict[str, list[str]] = json.loads(result.stdout)
    assert {"flamenco_manager.app", "flamenco_manager.openapi", "flamenco_manager.api.worker_api",
            "flamenco_manager.dashboard.views"} <= set(loaded["imported"])
    return loaded


def test_no_manager_module_imports_the_server_package() -> None:
    assert _import_every_module()["server"] == []


def test_the_manager_imports_without_the_server_dependencies() -> None:
    assert _import_every_module(REFUSE_SERVER_PACKAGES)["server"] == []
