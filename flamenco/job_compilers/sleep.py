"""``sleep`` test job (reference §4.3): one task per frame chunk that echoes, then sleeps."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from flamenco import frame_ranges
from flamenco.job_compilers import commands
from flamenco.job_compilers import settings as checks
from flamenco.job_compilers.tasks import TaskFactory

NAME = "sleep"


@dataclasses.dataclass
class SleepSettings:
    frames: list[int]
    chunk_size: int
    time_in_seconds: float


def parse(job: Mapping[str, Any], *, compiling: bool) -> SleepSettings:
    """All three settings are required (Flamenco 2 only noticed at compile time)."""
    settings = checks.settings_of(job)
    return SleepSettings(
        frames=checks.require_frames(settings),
        chunk_size=checks.require_int(settings, "chunk_size"),
        time_in_seconds=checks.require_number(settings, "time_in_seconds"),
    )


def compile_tasks(job: Mapping[str, Any], settings: SleepSettings, tasks: TaskFactory,
                  manager: Mapping[str, Any] | None) -> None:
    for chunk in frame_ranges.iter_frame_chunks(settings.frames, settings.chunk_size):
        tasks.add(f"sleep-{frame_ranges.merge_frame_range(chunk)}", "sleep", [
            commands.echo(message="Preparing to sleep"),
            commands.sleep(time_in_seconds=settings.time_in_seconds),
        ])
