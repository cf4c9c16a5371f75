"""Merging progressive renders: merge_progressive_renders and
merge_progressive_render_sequence (reference B.8.4).

Each progressive task renders more Cycles samples of the same frames; these
commands average the new render into the previous result, weighted by
sample counts, in Blender's compositor (``blender_scripts/merge_exr.py``).
"""
from __future__ import annotations

import asyncio
import glob
import re
import shutil
import tempfile
from pathlib import Path

from flamenco_worker.commands.base import CommandFailed, CommandSettingsError, register
from flamenco_worker.commands.blender import SCRIPTS_DIR, BlenderCommand
from flamenco_worker.commands.processes import find_executable
from flamenco_worker.commands.settings import Setting

MERGE_EXIT_CODE = 47
"""Blender's exit code when the merge script raises (Flamenco 2's value)."""

QUOTE_FREE = '"'
"""Paths must not contain a double quote: Flamenco 2 put them in a generated script."""

MERGE_SETTINGS = {
    "blender_cmd": Setting(str, required=True, non_empty=True),
    "input1": Setting(str, required=True, non_empty=True, forbidden_chars=QUOTE_FREE),
    "input2": Setting(str, required=True, non_empty=True, forbidden_chars=QUOTE_FREE),
    "output": Setting(str, required=True, non_empty=True, forbidden_chars=QUOTE_FREE),
    "weight1": Setting(int, required=True, minimum=1),
    "weight2": Setting(int, required=True, minimum=1),
}

HASH_RUN = re.compile(r"#+")


class MergeCommand(BlenderCommand):
    """Runs the merge script in a factory-startup Blender (no .blend file needed)."""

    settings_spec = MERGE_SETTINGS
    report_saved_files = False  # the merge commands report their final outputs themselves

    async def run_merge(self, output: str, *extra: str) -> None:
        """Merge input1 and input2 into ``output`` (a file name or a # pattern)."""
        input1, input2 = self.existing("input1"), self.existing("input2")
        blender = find_executable(self.blender_words[0], "blender_cmd")
        args = [
            blender, *self.blender_words[1:], "--factory-startup", "--enable-autoexec", "-noaudio", "--background",
            "--python-exit-code", str(MERGE_EXIT_CODE), "--python", str(SCRIPTS_DIR / "merge_exr.py"), "--",
            "--input1", str(input1), "--input2", str(input2), "--output", output,
            "--weight1", str(self.settings["weight1"]), "--weight2", str(self.settings["weight2"]), *extra,
        ]
        await self.run_blender(args)


@register
class MergeProgressiveRendersCommand(MergeCommand):
    """Merge two EXR files into ``output``, replacing it only once the merge succeeded."""

    name = "merge_progressive_renders"

    async def execute(self) -> None:
        output = Path(self.settings["output"])
        output.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="merge-", dir=output.parent) as tmpdir:
            merged = Path(tmpdir) / "merged.exr"
            await self.run_merge(str(Path(tmpdir) / "merged"))
            if not merged.exists():
                raise CommandFailed(f"{self.name}: Blender did not write {merged}")
            await asyncio.to_thread(shutil.move, merged, output)
        await self.ctx.output_produced(str(output))


@register
class MergeProgressiveRenderSequenceCommand(MergeCommand):
    """Merge two EXR sequences frame by frame into the ``output`` # pattern."""

    name = "merge_progressive_render_sequence"
    settings_spec = {
        **MERGE_SETTINGS,
        "frame_start": Setting(int, default=1),
        "frame_end": Setting(int, default=1),
    }

    def check_settings(self) -> None:
        super().check_settings()
        if "##" not in self.settings["output"]:
            raise CommandSettingsError("output", "must contain ## where the frame number goes")
        if self.settings["frame_end"] < self.settings["frame_start"]:
            raise CommandSettingsError("frame_end", "must not be before frame_start")
        self.total_frames = self.settings["frame_end"] - self.settings["frame_start"] + 1

    async def execute(self) -> None:
        output = self.settings["output"]
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        frames = ("--frame-start", str(self.settings["frame_start"]), "--frame-end", str(self.settings["frame_end"]))
        await self.run_merge(output, *frames)
        produced = sorted(glob.glob(HASH_RUN.sub("*", output) + "*"))
        await self.ctx.output_produced(*produced)
