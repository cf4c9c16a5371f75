"""The interface between the task runner and the worker's commands.

The runner turns each command of a task (``{"name": ..., "settings": {...}}``)
into a :class:`Command` with :func:`create_command`, then awaits
:meth:`Command.run`. Settings are validated when the command is created, so a
task with a bad setting fails before anything runs (Flamenco 2 validated each
command only when it started, after earlier commands had already changed
files). Every way a command can go wrong surfaces as one of three exceptions:

* :class:`UnknownCommandError` — no command of that name (creation time);
* :class:`CommandSettingsError` — a setting is missing or invalid (creation time);
* :class:`CommandFailed` — the command ran and failed (run time).

Cancellation is plain asyncio: cancelling the task awaiting ``run()`` stops the
command, terminates-then-kills any subprocess, and re-raises ``CancelledError``.
"""
from __future__ import annotations

import abc
import dataclasses
from pathlib import Path
import traceback
from typing import Any, ClassVar, Protocol, runtime_checkable

from flamenco_worker.commands.defaults import DEFAULT_CONFIG, CommandConfig
from flamenco_worker.commands.settings import Setting, validate_settings


class CommandError(Exception):
    """Base of every error a command raises on purpose."""


class UnknownCommandError(CommandError):
    """No command is registered under this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown command {name!r}")
        self.name = name


class CommandSettingsError(CommandError):
    """A setting is missing or invalid; ``setting`` names it."""

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"invalid setting {setting!r}: {reason}")
        self.setting = setting
        self.reason = reason


class CommandFailed(CommandError):
    """The command ran and failed; the message says why, for the task's activity."""


@runtime_checkable
class CommandContext(Protocol):
    """What a command may tell the outside world; the task runner implements it."""

    task_id: str
    command_index: int

    async def log(self, line: str) -> None:
        """Append one line to the task log."""

    async def progress(self, command_percentage: int) -> None:
        """Report this command's progress, 0-100."""

    async def activity(self, text: str) -> None:
        """Report a short human-readable description of what happens now."""

    async def output_produced(self, *paths: str) -> None:
        """Report files the command produced (e.g. rendered images)."""


class Command(abc.ABC):
    """One validated, runnable command.

    Subclasses declare ``name`` and ``settings_spec``; the validated settings
    arrive in ``self.settings`` with defaults filled in. Commands whose
    settings depend on each other override :meth:`check_settings`.
    """

    name: ClassVar[str]
    settings_spec: ClassVar[dict[str, Setting]] = {}

    def __init__(self, settings: dict[str, Any], ctx: CommandContext, config: CommandConfig) -> None:
        self.ctx = ctx
        self.config = config
        self.settings = validate_settings(self.settings_spec, settings, CommandSettingsError)
        self.check_settings()

    @property
    def identifier(self) -> str:
        """The same identifier Flamenco 2 used in its log lines."""
        return f"{self.name}.(task_id={self.ctx.task_id}, command_idx={self.ctx.command_index})"

    def check_settings(self) -> None:
        """Validate relations between settings; raise CommandSettingsError."""

    def existing(self, setting: str) -> Path:
        """The absolute path in ``setting``, which must exist by the time the command runs.

        Checked at run time, not at creation: an earlier command of the same
        task may be what creates the file.
        """
        path = Path(self.settings[setting]).absolute()
        if not path.exists():
            raise CommandFailed(f'{self.name}: "{setting}" {path} does not exist')
        return path

    async def run(self) -> None:
        """Run the command, reporting start and finish like Flamenco 2 did.

        Any unexpected exception (say, a permission error while moving files)
        becomes CommandFailed, its traceback logged, so the runner has one
        failure type to handle. Cancellation passes through untouched.
        """
        await self.ctx.log(f"{self.name}: Starting")
        await self.ctx.activity(f"starting {self.name}")
        await self.ctx.progress(0)
        try:
            await self.execute()
        except CommandFailed:
            raise
        except Exception as ex:
            for line in traceback.format_exc().rstrip().splitlines():
                await self.ctx.log(line)
            raise CommandFailed(f"{self.identifier}: Error executing: {ex}") from ex
        await self.ctx.log(f"{self.name}: Finished")
        await self.ctx.activity(f"finished {self.name}")
        await self.ctx.progress(100)

    @abc.abstractmethod
    async def execute(self) -> None:
        """Do the work; raise CommandFailed on failure."""


@dataclasses.dataclass
class _Registry:
    """Command classes by name, filled by the :func:`register` decorator."""

    commands: dict[str, type[Command]] = dataclasses.field(default_factory=dict)


_REGISTRY = _Registry()


def register(cls: type[Command]) -> type[Command]:
    """Class decorator: make ``cls`` creatable by its ``name``."""
    if cls.name in _REGISTRY.commands:
        raise ValueError(f"command {cls.name!r} registered twice")
    _REGISTRY.commands[cls.name] = cls
    return cls


def command_names() -> list[str]:
    """All registered command names, sorted."""
    return sorted(_REGISTRY.commands)


def create_command(
    name: str,
    settings: dict[str, Any],
    ctx: CommandContext,
    config: CommandConfig = DEFAULT_CONFIG,
) -> Command:
    """Build the command called ``name``, validating every setting up front.

    ``config`` carries the worker-wide options (timeouts, PID file).
    """
    cls = _REGISTRY.commands.get(name)
    if cls is None:
        raise UnknownCommandError(name)
    if not isinstance(settings, dict):
        raise CommandSettingsError("settings", f"must be an object, not {type(settings).__name__}")
    return cls(settings, ctx, config)
