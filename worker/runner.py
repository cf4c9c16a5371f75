"""Runs the commands of one task in order and reports their progress.

All commands are created (and so their settings validated) before the first
one runs: a typo in the last command's settings fails the task before the
first command has touched any file. Every way a command can go wrong ends as
:class:`TaskFailed` whose message names the command and, for settings, the
setting; the worker never crashes on a bad task.

Progress (reference D.2.1: Flamenco 2 never set it): a task of ``n`` commands
is at ``(index * 100 + command_percentage) / n`` percent.
"""
from __future__ import annotations

import json
from typing import Any

from flamenco_worker.clock import SYSTEM_CLOCK, Clock
from flamenco_worker.commands import (
    Command,
    CommandConfig,
    CommandError,
    CommandFailed,
    create_command,
)
from flamenco_worker.output_produced import OutputProducedSender
from flamenco_worker.reporter import TaskReporter


class TaskFailed(Exception):
    """The task cannot succeed; the message is meant for the task's activity."""


def task_progress(command_index: int, command_percentage: int, command_count: int) -> int:
    """Task percentage from the running command's index and its own percentage."""
    if command_count <= 0:
        return 100
    return (command_index * 100 + command_percentage) // command_count


class RunnerContext:
    """What one command sees of the world (the ``CommandContext`` of the commands package)."""

    def __init__(self, reporter: TaskReporter, outputs: OutputProducedSender, command_index: int, command_count: int) -> None:
        self.task_id = reporter.task_id
        self.command_index = command_index
        self._command_count = command_count
        self._reporter = reporter
        self._outputs = outputs

    async def log(self, line: str) -> None:
        await self._reporter.log(line)

    async def progress(self, command_percentage: int) -> None:
        percentage = min(max(int(command_percentage), 0), 100)
        await self._reporter.update(
            current_command_idx=self.command_index,
            command_progress_percentage=percentage,
            task_progress_percentage=task_progress(self.command_index, percentage, self._command_count),
        )

    async def activity(self, text: str) -> None:
        await self._reporter.update(activity=text, current_command_idx=self.command_index)

    async def output_produced(self, *paths: str) -> None:
        self._outputs.add(*paths)


def _describe(index: int, name: Any) -> str:
    return f"command {index} ({name})" if isinstance(name, str) else f"command {index}"


class TaskRunner:
    """Runs ``task["commands"]``; :meth:`run` returns on success and raises TaskFailed otherwise.

    ``clock`` measures the commands' timings (the commands themselves wait on
    ``command_config.clock``; the worker gives both the same clock).
    """

    def __init__(
        self,
        task: dict[str, Any],
        reporter: TaskReporter,
        outputs: OutputProducedSender,
        command_config: CommandConfig,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._task = task
        self._clock = clock
        self._reporter = reporter
        self._outputs = outputs
        self._command_config = command_config

    def _create_commands(self) -> list[Command]:
        specs = self._task.get("commands")
        if not isinstance(specs, list) or not specs:
            raise TaskFailed("task has no commands: 'commands' must be a non-empty list")
        commands: list[Command] = []
        for index, spec in enumerate(specs):
            name = spec.get("name") if isinstance(spec, dict) else None
            if not isinstance(name, str) or not name:
                raise TaskFailed(f"command {index}: 'name' must be a non-empty string")
            ctx = RunnerContext(self._reporter, self._outputs, index, len(specs))
            try:
                commands.append(create_command(name, spec.get("settings", {}), ctx, self._command_config))
            except CommandError as ex:
                raise TaskFailed(f"{_describe(index, name)}: {ex}") from ex
        return commands

    async def run(self) -> None:
        """Run every command in order; stop at the first failure."""
        commands = self._create_commands()
        for index, command in enumerate(commands):
            await self._reporter.update(current_command_idx=index, command_progress_percentage=0,
                                        task_progress_percentage=task_progress(index, 0, len(commands)))
            started = self._clock.monotonic()
            try:
                await command.run()
            except CommandFailed as ex:
                raise TaskFailed(f"{_describe(index, command.name)} failed: {ex}") from ex
            except CommandError as ex:
                raise TaskFailed(f"{_describe(index, command.name)}: {ex}") from ex
            finally:
                elapsed = self._clock.monotonic() - started
                self._reporter.add_timing(command.name, elapsed)
                self._reporter.add_timing("total", elapsed)
        await self._reporter.update(command_progress_percentage=100, task_progress_percentage=100)
        timing = json.dumps(self._task_timing(), sort_keys=True)
        await self._reporter.log(f"Aggregated task timing info: {timing}")

    def _task_timing(self) -> dict[str, float]:
        return {name: round(seconds, 3) for name, seconds in self._reporter.timing.items()}
