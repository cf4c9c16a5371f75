"""The client installs as `flamenco[client]`, without the server's dependencies (setup.py's extras)."""
from __future__ import annotations

import subprocess
import sys

from tests.support.server import REPO_ROOT

# Imports the client's modules with the server's packages made unimportable.
IMPORT_WITHOUT_SERVER = """
import importlib.abc, sys
SERVER_ONLY = {"bson", "pymongo", "eve", "flask", "celery", "redis", "cerberus", "werkzeug"}
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in SERVER_ONLY:  # as Python says it when the package is not installed
            raise ModuleNotFoundError("No module named " + repr(name), name=name)
        return None
sys.meta_path.insert(0, Refuse())
import flamenco.client, flamenco.client.cli, flamenco.frame_ranges, flamenco.output_paths
print(flamenco.frame_ranges.parse_frame_range("1..12").count)
"""


def test_client_and_the_shared_parser_import_without_server_packages() -> None:
    result = subprocess.run([sys.executable, "-c", IMPORT_WITHOUT_SERVER], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "12"


def test_the_flamenco_command_submits_without_server_packages() -> None:
    """`flamenco submit` on a workstation with only flamenco[client]: the server's commands stay away."""
    run_cli = IMPORT_WITHOUT_SERVER.split("import flamenco.client,")[0] + (
        "import sys; from flamenco.cli import main; sys.argv = ['flamenco', '--help']; main()")
    result = subprocess.run([sys.executable, "-c", run_cli], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    commands = {line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()}
    assert commands == {"jobs", "server", "submit"}  # `server` says what to install when run
