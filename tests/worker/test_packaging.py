"""The worker installs and runs without the server's or manager's dependencies."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import flamenco_worker

WORKER_DIR = Path(flamenco_worker.__file__).parent
ALLOWED_THIRD_PARTY = {"httpx", "psutil", "yaml", "click", "flamenco_worker", "flamenco_protocol"}
"""The worker's whole dependency set (setup.py's base install_requires, and the protocol package it installs)."""
BLENDER_SCRIPTS = WORKER_DIR / "commands" / "blender_scripts"
"""Scripts that run inside Blender (they import bpy), not in the worker."""


def imported_top_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_worker_imports_only_its_own_dependencies() -> None:
    offending = {}
    for path in WORKER_DIR.rglob("*.py"):
        if path.is_relative_to(BLENDER_SCRIPTS):
            continue
        extra = imported_top_level_names(path) - set(sys.stdlib_module_names) - ALLOWED_THIRD_PARTY
        if extra:
            offending[str(path.relative_to(WORKER_DIR))] = sorted(extra)
    assert offending == {}


def test_importing_the_worker_loads_no_server_packages() -> None:
    modules = [f"flamenco_worker.{p.stem}" for p in WORKER_DIR.glob("*.py") if p.stem != "__init__"]
    code = (f"import sys\nfor m in {modules!r}: __import__(m)\n"
            "import flamenco_worker.commands\n"
            "print(sorted(m for m in ('flask', 'pymongo', 'bson', 'eve', 'celery', 'redis') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
