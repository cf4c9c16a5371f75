"""Polling for a condition that real processes make true, with a failure that says what never happened."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")

# Long enough for a busy 2-core machine to start a process and answer it.
DEFAULT_TIMEOUT = 60.0


def wait_for(condition: Callable[[], T], what: str, timeout: float = DEFAULT_TIMEOUT, interval: float = 0.2) -> T:
    """Call ``condition`` until it returns something truthy and return that; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
