"""Defaults of the worker's commands, in one place.

The task runner may pass its own :class:`CommandConfig` (from the worker's
configuration file) to ``create_command``; tests pass small timeouts, or a
clock they move themselves.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from flamenco_worker.clock import SYSTEM_CLOCK, Clock

TERMINATE_GRACE_SECONDS = 5.0
"""Time between SIGTERM and SIGKILL when a subprocess is aborted (Flamenco 2: 5 s)."""

OUTPUT_TIMEOUT_SECONDS = 3600.0
"""A subprocess silent for this long is taken as hung (Flamenco 2's readline limit)."""

MISSING_FILE_RECHECK_SECONDS = 5.0
"""Wait before re-checking a missing .blend file: network filesystems lag (Flamenco 2.1)."""

ACTIVITY_INTERVAL_SECONDS = 30.0
"""Blender render-progress lines reach the activity at most this often (the fixed throttle)."""

OOM_SCORE_ADJ = 500
"""oom_score_adj of every command's subprocess (Linux). The kernel adds adj/1000 of
the RAM to a process's memory use when picking its victim, so +500 makes even a small
render the choice over the worker and over any service using less than half the RAM,
and leaves 501-1000 for a site to mark something even more expendable. 0 disables."""

OUTPUT_TAIL_LINES = 20
"""Lines of a failed subprocess's output quoted in the failure message."""


@dataclasses.dataclass(frozen=True)
class CommandConfig:
    """Worker-wide settings that commands need but a task does not carry."""

    terminate_grace_seconds: float = TERMINATE_GRACE_SECONDS
    output_timeout_seconds: float = OUTPUT_TIMEOUT_SECONDS
    missing_file_recheck_seconds: float = MISSING_FILE_RECHECK_SECONDS
    activity_interval_seconds: float = ACTIVITY_INTERVAL_SECONDS
    oom_score_adj: int = OOM_SCORE_ADJ
    """Given to every subprocess so the OOM killer takes it before the worker; 0 leaves it alone."""
    subprocess_pid_file: Path | None = None
    """When set, only one subprocess may run per PID file (Flamenco 2.2's guard
    against two workers on one machine rendering at once). The worker's own
    configuration decides the path; None disables the guard."""
    clock: Clock = SYSTEM_CLOCK
    """What the ``sleep`` command and Blender's re-check and activity throttle wait on and read.
    Subprocess timeouts (output, terminate grace) stay on real time: they bound real processes."""


DEFAULT_CONFIG = CommandConfig()
