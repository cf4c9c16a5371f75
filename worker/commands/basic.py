"""Basic commands: echo, log_a_lot, sleep, exec (reference B.8.4)."""
from __future__ import annotations

import shlex

from flamenco_worker.commands.base import Command, CommandSettingsError, register
from flamenco_worker.commands.processes import run_subprocess
from flamenco_worker.commands.settings import NUMBER, Setting

LOG_A_LOT_DEFAULT_LINES = 20000
"""Flamenco 2's default: enough lines to exercise log batching in a debug task."""

LOG_A_LOT_REPEAT = 30
"""Each log_a_lot line repeats its text this often, to make lines of a realistic length."""


@register
class EchoCommand(Command):
    """Log a message; the test job uses it to show a worker is alive."""

    name = "echo"
    settings_spec = {"message": Setting(str, required=True)}

    async def execute(self) -> None:
        await self.ctx.log(self.settings["message"])


@register
class LogALotCommand(Command):
    """Log many lines, to test log transport (task type ``debug``)."""

    name = "log_a_lot"
    settings_spec = {"lines": Setting(int, default=LOG_A_LOT_DEFAULT_LINES, minimum=0)}

    async def execute(self) -> None:
        for index in range(self.settings["lines"]):
            await self.ctx.log(" ".join([f"This is line {index}"] * LOG_A_LOT_REPEAT))


@register
class SleepCommand(Command):
    """Wait a while (on the command config's clock); the test job's stand-in for real work."""

    name = "sleep"
    settings_spec = {"time_in_seconds": Setting(NUMBER, required=True, minimum=0)}

    async def execute(self) -> None:
        seconds = self.settings["time_in_seconds"]
        await self.ctx.log(f"Sleeping for {seconds:g} seconds")
        await self.config.clock.sleep(seconds)
        await self.ctx.log(f"Done sleeping for {seconds:g} seconds")


@register
class ExecCommand(Command):
    """Run a command line directly, without a shell."""

    name = "exec"
    settings_spec = {"cmd": Setting(str, required=True, non_empty=True)}

    def check_settings(self) -> None:
        try:
            self.args = shlex.split(self.settings["cmd"])
        except ValueError as ex:
            raise CommandSettingsError("cmd", f"cannot be split into words: {ex}") from ex

    async def execute(self) -> None:
        await run_subprocess(self.args, self.ctx, self.config)
