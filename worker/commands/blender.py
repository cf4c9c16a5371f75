"""Blender commands: blender_render, blender_render_progressive,
blender_render_audio, exr_sequence_to_jpeg (reference B.8.3, B.8.4).

Every one runs ``<blender_cmd> --enable-autoexec -noaudio --background
<filepath>`` plus its own arguments, watches the output for progress, saved
files and fatal errors (:mod:`flamenco_worker.commands.blender_output`), and
fails on a non-zero exit. The argument order is Flamenco 2's.
"""
from __future__ import annotations

import glob
import shlex
from pathlib import Path
from typing import Any

from flamenco_worker.commands.base import Command, CommandFailed, CommandSettingsError, register
from flamenco_worker.commands.blender_output import (
    MISSING_FILE_WARNING,
    SAVED,
    RenderProgress,
    count_frames,
    fatal_error,
    parse_render_line,
)
from flamenco_worker.commands.processes import find_executable, run_subprocess
from flamenco_worker.commands.settings import Setting

SCRIPTS_DIR = Path(__file__).parent / "blender_scripts"
"""Python scripts that Blender runs for some commands (shipped as package modules)."""

OVERRIDES_EXIT_CODE = 42
"""Blender's exit code when the RNA overrides file raises (Flamenco 2's value)."""

AUDIO_EXIT_CODE = 47
"""Blender's exit code when the audio mixdown script raises (Flamenco 2's value)."""

EXR_TO_JPEG_EXIT_CODE = 32
"""Blender's exit code when the EXR-to-JPEG script raises (Flamenco 2's value)."""

FORMAT_ALIASES = {"OPEN_EXR": "EXR", "OPEN_EXR_MULTILAYER": "MULTILAYER"}
"""Blender's internal image format names that --render-format spells differently."""

RENDER_FORMATS = (
    "TGA", "RAWTGA", "JPEG", "IRIS", "IRIZ", "AVIRAW", "AVIJPEG", "PNG", "BMP", "HDR", "TIFF",
    "EXR", "MULTILAYER", "OPEN_EXR", "OPEN_EXR_MULTILAYER", "FFMPEG", "CINEON", "DPX", "JP2", "WEBP",
)
"""What --render-format accepts, plus the internal names mapped by FORMAT_ALIASES."""

BLENDER_SETTINGS = {
    "blender_cmd": Setting(str, required=True, non_empty=True),
    "filepath": Setting(str, required=True, non_empty=True),
    # Run the .blend file's own Python (drivers, rigs): Flamenco 2 always did;
    # a manager with blender_autoexec: false sends false (--disable-autoexec).
    "autoexec": Setting(bool, default=True),
}


def autoexec_flag(settings: dict) -> str:
    """Blender's flag for the ``autoexec`` setting."""
    return "--enable-autoexec" if settings.get("autoexec", True) else "--disable-autoexec"


class BlenderCommand(Command):
    """Shared by every command that runs Blender on a .blend file."""

    settings_spec = BLENDER_SETTINGS
    total_frames: int | None = None
    report_saved_files = True
    """Report Blender's "Saved:" files as outputs; off where Blender writes to a temporary place."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.render_progress = RenderProgress(self.total_frames)
        self.last_activity = float("-inf")
        self.fatal_line: str | None = None

    def check_settings(self) -> None:
        try:
            self.blender_words = shlex.split(self.settings["blender_cmd"])
        except ValueError as ex:
            raise CommandSettingsError("blender_cmd", f"cannot be split into words: {ex}") from ex
        if not self.blender_words:
            raise CommandSettingsError("blender_cmd", "must not be empty")

    async def blender_args(self) -> list[str]:
        """``<blender> --enable-autoexec|--disable-autoexec -noaudio --background <file> [overrides]``."""
        blender = find_executable(self.blender_words[0], "blender_cmd")
        filepath = await self.existing_blend_file()
        args = [blender, *self.blender_words[1:], autoexec_flag(self.settings), "-noaudio", "--background",
                str(filepath)]
        return args + await self.overrides_args(filepath)

    async def existing_blend_file(self) -> Path:
        """The .blend file; checked twice, as network filesystems lag (Flamenco 2.1)."""
        path = Path(self.settings["filepath"])
        if not path.exists():
            await self.ctx.log(f"Blend file {path} does not exist, checking again shortly")
            await self.config.clock.sleep(self.config.missing_file_recheck_seconds)
        if not path.exists():
            raise CommandFailed(f'{self.name}: "filepath" {path} does not exist')
        return path

    async def overrides_args(self, filepath: Path) -> list[str]:
        """Run ``<file>-overrides.py`` (written by create_python_file) when it exists."""
        name = str(filepath)
        overrides = Path(name[: name.rindex(".blend")] + "-overrides.py" if ".blend" in name else name + "-overrides.py")
        if not overrides.exists():
            return []
        await self.ctx.log(f"Using overrides file {overrides}:")
        await self.ctx.log(overrides.read_text(encoding="utf-8", errors="replace"))
        return ["--python-exit-code", str(OVERRIDES_EXIT_CODE), "--python", str(overrides)]

    async def run_blender(self, args: list[str]) -> None:
        """Run Blender, reporting progress and outputs; fail on fatal errors."""
        await run_subprocess(args, self.ctx, self.config, self.handle_line)
        if self.fatal_line is not None:
            raise CommandFailed(f"{self.name}: Blender reported {self.fatal_line!r}")

    async def handle_line(self, line: str) -> None:
        """React to one line of Blender's output."""
        parsed = parse_render_line(line)
        percentage = self.render_progress.feed(line, parsed)
        if percentage is not None:
            await self.ctx.progress(percentage)
        if parsed is not None:
            await self.throttled_activity(parsed.activity())
        elif (saved := SAVED.match(line)) and self.report_saved_files:
            await self.ctx.output_produced(saved["path"])
        elif MISSING_FILE_WARNING.search(line):
            await self.ctx.activity(line)
        elif fatal_error(line) and self.fatal_line is None:
            self.fatal_line = line

    async def throttled_activity(self, text: str) -> None:
        """Report render progress as the activity, at most once per interval."""
        now = self.config.clock.monotonic()
        if now - self.last_activity < self.config.activity_interval_seconds:
            return
        self.last_activity = now
        await self.ctx.activity(text)


RENDER_SETTINGS = {
    **BLENDER_SETTINGS,
    "render_output": Setting(str, non_empty=True),
    "frames": Setting(str, non_empty=True),
    "format": Setting(str, choices=RENDER_FORMATS),
    # Older servers sent the format under this name; used when "format" is absent.
    "render_format": Setting(str, choices=RENDER_FORMATS),
    "python_expr": Setting(str, non_empty=True),
}


@register
class BlenderRenderCommand(BlenderCommand):
    """Render frames of a .blend file; progress is the share of frames done."""

    name = "blender_render"
    settings_spec = RENDER_SETTINGS

    def check_settings(self) -> None:
        super().check_settings()
        self.total_frames = count_frames(self.settings["frames"])

    async def render_args(self) -> list[str]:
        """Blender's arguments in Flamenco 2's order: expr, output, format, frames."""
        args = await self.blender_args()
        settings = self.settings
        if settings["python_expr"]:
            args += ["--python-expr", settings["python_expr"]]
        if settings["render_output"]:
            Path(settings["render_output"]).parent.mkdir(parents=True, exist_ok=True)
            args += ["--render-output", settings["render_output"]]
        render_format = settings["format"] or settings["render_format"]
        if render_format:
            args += ["--render-format", FORMAT_ALIASES.get(render_format, render_format)]
        if settings["frames"]:
            args += ["--render-frame", settings["frames"]]
        return args

    async def execute(self) -> None:
        await self.run_blender(await self.render_args())


@register
class BlenderRenderProgressiveCommand(BlenderRenderCommand):
    """Render a range of Cycles sample chunks (progressive refinement, Flamenco 2.2+).

    Blender 3.x ignores the resumable-render flags after ``--``, so it renders
    all samples; the arguments stay Flamenco 2's so older Blenders still work.
    """

    name = "blender_render_progressive"
    settings_spec = {
        **RENDER_SETTINGS,
        "cycles_num_chunks": Setting(int, required=True, minimum=1),
        "cycles_chunk_start": Setting(int, required=True, minimum=1),
        "cycles_chunk_end": Setting(int, required=True, minimum=1),
    }

    def __init__(self, settings: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        if "cycles_chunk" in settings:
            raise CommandSettingsError(
                "cycles_chunk", "is obsolete (a server before Flamenco 2.2); use cycles_chunk_start and cycles_chunk_end"
            )
        super().__init__(settings, *args, **kwargs)

    def check_settings(self) -> None:
        super().check_settings()
        start, end, num = (self.settings[k] for k in ("cycles_chunk_start", "cycles_chunk_end", "cycles_num_chunks"))
        if end < start:
            raise CommandSettingsError("cycles_chunk_end", f"must be at least cycles_chunk_start ({start}), not {end}")
        if end > num:
            raise CommandSettingsError("cycles_chunk_end", f"must be at most cycles_num_chunks ({num}), not {end}")

    async def render_args(self) -> list[str]:
        return await super().render_args() + [
            "--",
            "--cycles-resumable-num-chunks", str(self.settings["cycles_num_chunks"]),
            "--cycles-resumable-start-chunk", str(self.settings["cycles_chunk_start"]),
            "--cycles-resumable-end-chunk", str(self.settings["cycles_chunk_end"]),
        ]


@register
class BlenderRenderAudioCommand(BlenderCommand):
    """Mix a .blend file's sound down to FLAC (for video-chunk jobs)."""

    name = "blender_render_audio"
    settings_spec = {
        **BLENDER_SETTINGS,
        "render_output": Setting(str, required=True, non_empty=True),
        "frame_start": Setting(int),
        "frame_end": Setting(int),
    }

    async def execute(self) -> None:
        blender = find_executable(self.blender_words[0], "blender_cmd")
        filepath = await self.existing_blend_file()
        output = Path(self.settings["render_output"])
        output.parent.mkdir(parents=True, exist_ok=True)
        args = [blender, *self.blender_words[1:], autoexec_flag(self.settings), "-noaudio", "--background",
                str(filepath),
                "--python-exit-code", str(AUDIO_EXIT_CODE), "--python", str(SCRIPTS_DIR / "render_audio.py"),
                "--", "--output", str(output)]
        for key in ("frame_start", "frame_end"):
            if self.settings[key] is not None:
                args += [f"--{key.replace('_', '-')}", str(self.settings[key])]
        await self.run_blender(args)
        if not output.exists():
            raise CommandFailed(f'{self.name}: Blender wrote no audio to "render_output" {output}')
        await self.ctx.output_produced(str(output))


@register
class ExrSequenceToJpegCommand(BlenderCommand):
    """Turn an EXR sequence into JPEG previews beside it (progressive renders)."""

    name = "exr_sequence_to_jpeg"
    settings_spec = {
        **BLENDER_SETTINGS,
        "exr_glob": Setting(str, non_empty=True),
        "exr_directory": Setting(str, non_empty=True),  # deprecated: means <dir>/*.exr
        "output_pattern": Setting(str, default="preview-######.jpg", non_empty=True),
    }

    def check_settings(self) -> None:
        super().check_settings()
        glob, directory = self.settings["exr_glob"], self.settings["exr_directory"]
        if glob and directory:
            raise CommandSettingsError("exr_directory", "must not be given together with exr_glob")
        if not glob and not directory:
            raise CommandSettingsError("exr_glob", "is required (or the deprecated exr_directory)")
        self.exr_glob = glob or str(Path(directory) / "*.exr")

    async def execute(self) -> None:
        self.render_progress.total_frames = len(glob.glob(self.exr_glob)) or None
        args = await self.blender_args()
        args += ["--python-exit-code", str(EXR_TO_JPEG_EXIT_CODE), "--python", str(SCRIPTS_DIR / "exr_sequence_to_jpeg.py"),
                 "--", "--exr-glob", self.exr_glob, "--output-pattern", self.settings["output_pattern"]]
        await self.run_blender(args)
