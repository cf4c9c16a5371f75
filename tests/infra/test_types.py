"""The type checker passes over the server, the manager, the worker and their protocol (settings: mypy.ini)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# Packages whose type hints are checked on every test run.
CHECKED = ("flamenco", "manager", "worker", "protocol")


def test_mypy_finds_no_errors() -> None:
    result = subprocess.run([sys.executable, "-m", "mypy", "--config-file", "mypy.ini", *CHECKED],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
