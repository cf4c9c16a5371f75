"""Parsing Blender's output, on lines Blender 3.4 printed while rendering the test scene."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from flamenco_worker.commands import CommandConfig, CommandFailed, create_command
from flamenco_worker.commands.blender_output import (
    RenderProgress,
    count_frames,
    duration_seconds,
    fatal_error,
    parse_render_line,
    sample_fraction,
)
from tests.worker.conftest import until
from tests.worker.fake_clock import FakeClock

SAMPLE_LINE = (
    "Fra:1 Mem:10.02M (Peak 10.83M) | Time:00:00.06 | Remaining:01:02.50 | "
    "Mem:0.86M, Peak:0.86M | Scene, ViewLayer | Sample 1/4"
)


def test_parse_render_line() -> None:
    parsed = parse_render_line(SAMPLE_LINE)
    assert parsed is not None
    assert (parsed.fra, parsed.mem, parsed.peakmem) == (1, "10.02M", "10.83M")
    assert parsed.time_sec == pytest.approx(0.06)
    assert parsed.remaining_sec == pytest.approx(62.5)
    assert parsed.status == "Scene, ViewLayer | Sample 1/4"
    assert parsed.activity() == "Fra:1 Mem:10.02M | Time:0.06s | Remaining:62.5s | Scene, ViewLayer | Sample 1/4"


def test_other_lines_are_not_render_lines() -> None:
    assert parse_render_line("Saved: '/tmp/out/frame-0001.png'") is None
    assert parse_render_line("Read blend: /tmp/scene.blend") is None


@pytest.mark.parametrize(
    ("text", "seconds"), [("00:00.06", 0.06), ("01:02.50", 62.5), ("1:00:01.00", 3601.0), ("soon", None)]
)
def test_duration_seconds(text: str, seconds: float | None) -> None:
    assert duration_seconds(text) == (pytest.approx(seconds) if seconds is not None else None)


@pytest.mark.parametrize(
    ("frames", "count"), [("1..3", 3), ("47", 1), ("1..3,7,10..11", 6), ("", None), (None, None), ("-1", None), ("5..2", None)]
)
def test_count_frames(frames: str | None, count: int | None) -> None:
    assert count_frames(frames) == count


def test_sample_fraction_in_cycles_and_eevee_wording() -> None:
    assert sample_fraction(SAMPLE_LINE) == 0.25
    assert sample_fraction("Fra:1 Mem:30.00M (Peak 31.00M) | Time:00:01.00 | Rendering 16 / 64 samples") == 0.25
    assert sample_fraction("Fra:1 Mem:9.9M (Peak 10.8M) | Time:00:00.00 | Scene, ViewLayer | Updating Film") is None


def render_lines(frame: int) -> list[str]:
    prefix = f"Fra:{frame} Mem:9.91M (Peak 10.83M) | Time:00:00.00 | Mem:0.76M, Peak:0.76M | Scene, ViewLayer | "
    return [prefix + "Synchronizing object | Cube", prefix + "Sample 0/4", prefix + "Sample 2/4",
            prefix + "Sample 4/4", prefix + "Finished", f"Saved: '/tmp/out/frame-{frame:04d}.png'", " Time: 00:00.00"]


def test_progress_counts_frames_and_samples_and_never_reaches_100() -> None:
    progress = RenderProgress(total_frames=2)
    reported = []
    for line in render_lines(1) + render_lines(2):
        value = progress.feed(line, parse_render_line(line))
        if value is not None:
            reported.append(value)
    assert reported == [25, 50, 75, 99]


def test_progress_never_goes_back_when_a_view_layer_restarts_samples() -> None:
    progress = RenderProgress(total_frames=1)
    lines = ["Fra:1 Mem:1M (Peak 1M) | Layer A | Sample 3/4", "Fra:1 Mem:1M (Peak 1M) | Layer B | Sample 1/4"]
    values = [progress.feed(line, parse_render_line(line)) for line in lines]
    assert values == [75, None]


def test_progress_is_unknown_without_a_frame_count() -> None:
    progress = RenderProgress(total_frames=None)
    assert all(progress.feed(line, parse_render_line(line)) is None for line in render_lines(1))


@pytest.mark.parametrize(
    ("line", "fatal"),
    [
        ("Error: Cannot read file '/x.blend': No such file or directory", True),
        ("Error: File format is not supported in file '/tmp/bad.blend'", True),
        ("Error: Python: Traceback (most recent call last):", True),
        ("Warning: Unable to open textures/wood.png", False),
        ("Fra:1 Mem:1M (Peak 1M) | Error: in a status text", False),
    ],
)
def test_fatal_errors(line: str, fatal: bool) -> None:
    assert fatal_error(line) is fatal


class TestHandleLine:
    """BlenderCommand.handle_line: what each kind of line turns into, with the default throttle on a fake clock."""

    def command(self, ctx, frames: str = "1..2", clock: FakeClock | None = None):
        settings = {"blender_cmd": "blender", "filepath": "/shots/a.blend", "frames": frames}
        return create_command("blender_render", settings, ctx, CommandConfig(clock=clock or FakeClock()))

    def feed(self, command, lines: list[str]) -> None:
        async def feed_all() -> None:
            for line in lines:
                await command.handle_line(line)

        asyncio.run(feed_all())

    def test_render_lines_reach_the_activity_at_most_every_30_seconds(self, ctx) -> None:
        clock = FakeClock()
        command = self.command(ctx, clock=clock)
        self.feed(command, render_lines(1) + render_lines(2)[:3])
        clock.advance(29.999)
        self.feed(command, render_lines(2)[3:4])
        assert ctx.activities == ["Fra:1 Mem:9.91M | Time:0s | Scene, ViewLayer | Synchronizing object | Cube"]
        clock.advance(0.001)
        self.feed(command, render_lines(2)[4:])
        assert ctx.activities[1:] == ["Fra:2 Mem:9.91M | Time:0s | Scene, ViewLayer | Finished"], "30 s later"
        assert ctx.progresses == [25, 50, 75, 99]

    def test_saved_files_are_outputs(self, ctx) -> None:
        self.feed(self.command(ctx), render_lines(1))
        assert ctx.outputs == ["/tmp/out/frame-0001.png"]

    def test_missing_files_become_the_activity_without_failing(self, ctx) -> None:
        command = self.command(ctx)
        self.feed(command, ["Warning: Unable to open textures/wood.png", "Warning: Path '//tex/x.png' not found"])
        assert ctx.activities == ["Warning: Unable to open textures/wood.png", "Warning: Path '//tex/x.png' not found"]
        assert command.fatal_line is None

    def test_first_fatal_error_is_kept(self, ctx) -> None:
        command = self.command(ctx)
        self.feed(command, ["Error: Python: Traceback (most recent call last):", "Error: Cannot read file 'x'"])
        assert command.fatal_line == "Error: Python: Traceback (most recent call last):"


class TestMissingBlendFile:
    """The .blend file is checked again after ``missing_file_recheck_seconds`` (network filesystems lag)."""

    RECHECK = 5.0

    def check(self, ctx, blend: Path, appears: bool) -> Path:
        clock = FakeClock()
        settings = {"blender_cmd": "blender", "filepath": str(blend), "frames": "1"}
        command = create_command("blender_render", settings, ctx,
                                 CommandConfig(clock=clock, missing_file_recheck_seconds=self.RECHECK))

        async def check_twice() -> Path:
            checking = asyncio.create_task(command.existing_blend_file(), name="recheck")
            await until(lambda: clock.pending("recheck"), what="the wait before the second check")
            assert [s.remaining for s in clock.pending("recheck")] == [self.RECHECK]
            if appears:
                blend.write_bytes(b"BLENDER")
            clock.advance(self.RECHECK)
            return await checking

        return asyncio.run(check_twice())

    def test_a_file_that_appears_meanwhile_is_used(self, ctx, tmp_path: Path) -> None:
        assert self.check(ctx, tmp_path / "late.blend", appears=True) == tmp_path / "late.blend"
        assert ctx.logs == [f"Blend file {tmp_path / 'late.blend'} does not exist, checking again shortly"]

    def test_a_file_still_missing_fails_naming_filepath(self, ctx, tmp_path: Path) -> None:
        with pytest.raises(CommandFailed, match='"filepath" .*missing.blend does not exist'):
            self.check(ctx, tmp_path / "missing.blend", appears=False)
