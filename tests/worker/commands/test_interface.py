"""create_command: the registry and up-front settings validation."""
from __future__ import annotations

import asyncio

import pytest

from flamenco_worker.commands import (
    CommandSettingsError,
    UnknownCommandError,
    command_names,
    create_command,
)

from .conftest import RecordingContext

REFERENCE_COMMANDS = {
    "echo", "log_a_lot", "sleep", "exec",
    "blender_render", "blender_render_progressive", "blender_render_audio",
    "merge_progressive_renders", "merge_progressive_render_sequence", "exr_sequence_to_jpeg",
    "create_video", "concatenate_videos", "mux_audio", "encode_audio",
    "move_out_of_way", "move_to_final", "copy_file", "remove_tree", "remove_file",
    "move_with_counter", "create_python_file",
}


def test_every_reference_command_is_registered() -> None:
    assert REFERENCE_COMMANDS <= set(command_names())


def test_unknown_command_name_is_refused(ctx: RecordingContext) -> None:
    with pytest.raises(UnknownCommandError) as info:
        create_command("render_everything", {}, ctx)
    assert info.value.name == "render_everything"
    assert "render_everything" in str(info.value)


@pytest.mark.parametrize(
    ("name", "settings", "setting", "reason"),
    [
        ("echo", {}, "message", "is required"),
        ("echo", {"message": 3}, "message", "must be a str, not int"),
        ("sleep", {"time_in_seconds": "5"}, "time_in_seconds", "must be a int or float, not str"),
        ("sleep", {"time_in_seconds": True}, "time_in_seconds", "must be a int or float, not bool"),
        ("sleep", {"time_in_seconds": -1}, "time_in_seconds", "must be at least 0"),
        ("exec", {"cmd": "  "}, "cmd", "must not be empty"),
        ("exec", {"cmd": "echo 'unbalanced"}, "cmd", "cannot be split into words"),
        ("log_a_lot", {"lines": 1.5}, "lines", "must be a int, not float"),
    ],
)
def test_invalid_settings_name_the_setting(ctx, name, settings, setting, reason) -> None:
    with pytest.raises(CommandSettingsError) as info:
        create_command(name, settings, ctx)
    assert info.value.setting == setting
    assert reason in info.value.reason
    assert setting in str(info.value)


def test_settings_must_be_an_object(ctx: RecordingContext) -> None:
    with pytest.raises(CommandSettingsError) as info:
        create_command("echo", ["message"], ctx)  # type: ignore[arg-type]
    assert info.value.setting == "settings"


def test_validation_leaves_the_given_settings_untouched(ctx: RecordingContext) -> None:
    settings: dict = {}
    command = create_command("log_a_lot", settings, ctx)
    assert settings == {}
    assert command.settings["lines"] == 20000


def test_run_reports_start_and_finish(ctx: RecordingContext) -> None:
    command = create_command("echo", {"message": "hello farm"}, ctx)
    asyncio.run(command.run())
    assert ctx.logs == ["echo: Starting", "hello farm", "echo: Finished"]
    assert ctx.activities == ["starting echo", "finished echo"]
    assert ctx.progresses == [0, 100]
    assert command.identifier == f"echo.(task_id={ctx.task_id}, command_idx=0)"
