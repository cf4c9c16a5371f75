"""FFmpeg commands: create_video, concatenate_videos, mux_audio, encode_audio (reference B.8.4).

The argument vectors are Flamenco 2's POSIX ones. Inputs are checked when the
command runs, so a missing file fails with the setting's name instead of an
FFmpeg error page; the output's directory is created first.
"""
from __future__ import annotations

import glob
import re
import shlex
from pathlib import Path

from flamenco_worker.commands.base import Command, CommandFailed, CommandSettingsError, register
from flamenco_worker.commands.blender_output import MAX_RUNNING_PERCENTAGE
from flamenco_worker.commands.files import counted_path
from flamenco_worker.commands.processes import LineHandler, find_executable, run_subprocess
from flamenco_worker.commands.settings import NUMBER, Setting

DEFAULT_FFMPEG = "ffmpeg"
"""Used when a task gives no ffmpeg_cmd: found on $PATH."""

CONCAT_INDEX_NAME = "ffmpeg-input.txt"
"""The concat demuxer's list of inputs, written beside the inputs (Flamenco 2's name)."""

VIDEO_ENCODING_ARGS = [
    "-c:v", "h264",
    "-crf", "20",  # visually near-lossless previews
    "-g", "18",  # a keyframe every 18 frames keeps scrubbing fast
    "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",  # yuv420p needs even dimensions
    "-pix_fmt", "yuv420p",  # what every player can decode
    "-y",
    "-bf", "0",  # no B-frames: frame-exact seeking in review tools
]
"""create_video's encoder settings, Flamenco 2's."""

FRAME_STATUS = re.compile(r"^frame=\s*(?P<frame>\d+) ")
"""FFmpeg's status line while encoding: ``frame=   42 fps=...``."""

FFMPEG_SETTINGS = {"ffmpeg_cmd": Setting(str, default=DEFAULT_FFMPEG, non_empty=True)}


class FFmpegCommand(Command):
    """Shared by the commands that run FFmpeg."""

    settings_spec = FFMPEG_SETTINGS

    def check_settings(self) -> None:
        try:
            self.ffmpeg_words = shlex.split(self.settings["ffmpeg_cmd"])
        except ValueError as ex:
            raise CommandSettingsError("ffmpeg_cmd", f"cannot be split into words: {ex}") from ex
        if not self.ffmpeg_words:
            raise CommandSettingsError("ffmpeg_cmd", "must not be empty")

    def ffmpeg(self) -> list[str]:
        """FFmpeg's executable and any extra words of ffmpeg_cmd."""
        return [find_executable(self.ffmpeg_words[0], "ffmpeg_cmd"), *self.ffmpeg_words[1:]]

    def matching(self, setting: str) -> list[Path]:
        """The files matching the glob in ``setting``, sorted; at least one."""
        paths = sorted(Path(p) for p in glob.glob(self.settings[setting]))
        if not paths:
            raise CommandFailed(f'{self.name}: "{setting}" {self.settings[setting]} matches no files')
        return paths

    def output(self, setting: str = "output_file") -> Path:
        """The absolute output path, its directory created."""
        path = Path(self.settings[setting]).absolute()
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    async def run_ffmpeg(self, args: list[str], output: Path, on_line: LineHandler | None = None) -> None:
        await run_subprocess(self.ffmpeg() + args, self.ctx, self.config, on_line)
        await self.ctx.output_produced(str(output))


@register
class CreateVideoCommand(FFmpegCommand):
    """Encode an image sequence into an H.264 preview video."""

    name = "create_video"
    settings_spec = {
        **FFMPEG_SETTINGS,
        "input_files": Setting(str, required=True, non_empty=True),
        "output_file": Setting(str, required=True, non_empty=True),
        "fps": Setting(NUMBER, required=True, minimum=0.001),
    }

    async def execute(self) -> None:
        frame_count = len(self.matching("input_files"))
        output = self.output()
        args = ["-r", str(self.settings["fps"]), "-pattern_type", "glob", "-i", self.settings["input_files"]]
        await self.run_ffmpeg(args + VIDEO_ENCODING_ARGS + [str(output)], output, self.progress_reporter(frame_count))

    def progress_reporter(self, frame_count: int) -> LineHandler:
        """Report the share of input frames encoded, from FFmpeg's ``frame=`` status lines."""
        reported = 0

        async def report(line: str) -> None:
            nonlocal reported
            match = FRAME_STATUS.match(line)
            if not match:
                return
            percentage = min(int(match["frame"]) * 100 // frame_count, MAX_RUNNING_PERCENTAGE)
            if percentage > reported:
                reported = percentage
                await self.ctx.progress(percentage)

        return report


def concat_index_line(path: Path) -> str:
    """One line of a concat demuxer list; quotes in names are escaped as FFmpeg wants."""
    escaped = path.name.replace("'", "'\\''")
    return f"file '{escaped}'\n"


@register
class ConcatenateVideosCommand(FFmpegCommand):
    """Join video chunks without re-encoding them."""

    name = "concatenate_videos"
    settings_spec = {
        **FFMPEG_SETTINGS,
        "input_files": Setting(str, required=True, non_empty=True),
        "output_file": Setting(str, required=True, non_empty=True),
        # When set, the output gets move_with_counter's uniqueness counter, keeping earlier edits.
        "counter_in_output_name": Setting(bool, default=False),
    }

    async def execute(self) -> None:
        inputs = self.matching("input_files")
        output = self.output()
        if self.settings["counter_in_output_name"]:
            output = counted_path(output)
        index = inputs[0].parent / CONCAT_INDEX_NAME
        index.write_text("".join(concat_index_line(p) for p in inputs), encoding="utf-8")
        try:
            await self.run_ffmpeg(["-f", "concat", "-i", str(index), "-c", "copy", "-y", str(output)], output)
        finally:
            index.unlink(missing_ok=True)


@register
class MuxAudioCommand(FFmpegCommand):
    """Put an audio track into a video without re-encoding either."""

    name = "mux_audio"
    settings_spec = {
        **FFMPEG_SETTINGS,
        "audio_file": Setting(str, required=True, non_empty=True),
        "video_file": Setting(str, required=True, non_empty=True),
        "output_file": Setting(str, required=True, non_empty=True),
    }

    async def execute(self) -> None:
        audio, video = self.existing("audio_file"), self.existing("video_file")
        output = self.output()
        await self.run_ffmpeg(["-i", str(audio), "-i", str(video), "-c", "copy", "-y", str(output)], output)


@register
class EncodeAudioCommand(FFmpegCommand):
    """Re-encode an audio file, e.g. Blender's FLAC mixdown to AAC for a video."""

    name = "encode_audio"
    settings_spec = {
        **FFMPEG_SETTINGS,
        "input_file": Setting(str, required=True, non_empty=True),
        "output_file": Setting(str, required=True, non_empty=True),
        "bitrate": Setting(str, required=True, non_empty=True),
        "codec": Setting(str, required=True, non_empty=True),
    }

    async def execute(self) -> None:
        source = self.existing("input_file")
        output = self.output()
        args = ["-i", str(source), "-c:a", self.settings["codec"], "-b:a", self.settings["bitrate"], "-y", str(output)]
        await self.run_ffmpeg(args, output)
