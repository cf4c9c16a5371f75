"""The type checker passes over the server, the manager, the worker and their protocol (settings: mypy.ini).

The manager, worker and protocol live in directories named ``manager``,
``worker`` and ``protocol`` but are imported as ``flamenco_manager``,
``flamenco_worker`` and ``flamenco_protocol`` (editable installs whose import
hooks mypy cannot follow). Checked as directories, every import between their
modules was ``Any`` to mypy, so calls across modules went unchecked. Here
mypy finds each package under its import name, through symlinks in its own
cache directory.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# Import name -> directory, for every package whose type hints are checked on every test run.
CHECKED = {"flamenco": "flamenco", "flamenco_manager": "manager", "flamenco_worker": "worker",
           "flamenco_protocol": "protocol"}
# Where the import names point at the directories (mypy's cache directory: ignored by git).
PACKAGE_LINKS = REPO_ROOT / ".mypy_cache" / "packages"


def package_links() -> Path:
    """A directory in which each checked package appears under its import name."""
    PACKAGE_LINKS.mkdir(parents=True, exist_ok=True)
    for name, directory in CHECKED.items():
        link, target = PACKAGE_LINKS / name, REPO_ROOT / directory
        if name == directory:
            continue
        if link.is_symlink() and Path(os.readlink(link)) != target:
            link.unlink()  # made by a clone that has moved since
        if not link.is_symlink():
            link.symlink_to(target, target_is_directory=True)
    return PACKAGE_LINKS


def mypy(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, MYPYPATH=str(package_links()))
    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", "mypy.ini", *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env=env)


def test_mypy_finds_no_errors() -> None:
    result = mypy(*(arg for name in CHECKED for arg in ("-p", name)))
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]


def test_calls_between_modules_are_checked() -> None:
    result = mypy("-c", "from flamenco_manager import task_logs\ntask_logs.append(1, 2, 3, 4)\n")
    assert result.returncode == 1 and 'Argument 1 to "append" has incompatible type "int"' in result.stdout, \
        result.stdout + result.stderr
