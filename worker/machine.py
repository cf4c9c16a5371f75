"""Machine statistics from psutil, for sign-on and the task log.

The sign-on document carries them as an extra ``machine`` key (Flamenco 2
managers ignore unknown keys); task updates have no field for them, so the
load goes into the task log at the start and end of each task.
"""
from __future__ import annotations

import os
import platform
import socket
from typing import Any

import psutil

BYTES_PER_GIB = 1024 ** 3


def machine_info() -> dict[str, Any]:
    """What the machine is: fixed facts, sent at sign-on."""
    return {
        "hostname": socket.gethostname(),
        "os": platform.platform(),
        "cpu_count": psutil.cpu_count(logical=True) or 0,
        "memory_total_bytes": psutil.virtual_memory().total,
        "python": platform.python_version(),
    }


def machine_load() -> dict[str, Any]:
    """How busy the machine is now."""
    memory = psutil.virtual_memory()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpu_percent": psutil.cpu_percent(interval=None),
        "load_average_1m": round(load[0], 2),
        "memory_used_percent": memory.percent,
        "memory_available_gib": round(memory.available / BYTES_PER_GIB, 2),
    }


def describe_load() -> str:
    """One log line about the machine's load."""
    load = machine_load()
    return (f"machine load: CPU {load['cpu_percent']:.0f}%, load average {load['load_average_1m']}, "
            f"memory {load['memory_used_percent']:.0f}% used, {load['memory_available_gib']} GiB available")
