"""Blender commands with Debian's real Blender on a scene the tests generate."""
from __future__ import annotations

import asyncio
import shlex
import shutil
import subprocess
from pathlib import Path

import psutil
import pytest

from flamenco_worker.commands import CommandFailed, CommandSettingsError

from .conftest import RecordingContext, files_in, png_size

pytestmark = pytest.mark.blender


def run(command) -> None:
    asyncio.run(command.run())


def render_settings(blender: str, blend: Path, out: Path, **extra) -> dict:
    return {"blender_cmd": blender, "filepath": str(blend), "render_output": str(out / "frame-####"),
            "format": "PNG", "frames": "1..3", **extra}


def test_blender_render_writes_frames_and_reports_progress(make, ctx: RecordingContext, blender, scene_blend, tmp_path) -> None:
    out = tmp_path / "render"
    run(make("blender_render", render_settings(blender, scene_blend, out)))

    assert files_in(out) == ["frame-0001.png", "frame-0002.png", "frame-0003.png"]
    assert png_size(out / "frame-0002.png") == (64, 48)
    assert ctx.outputs == [str(out / f"frame-000{n}.png") for n in (1, 2, 3)]
    progress = ctx.progresses
    assert progress[0] == 0 and progress[-1] == 100
    assert progress == sorted(progress) and len(set(progress)) == len(progress)
    assert any(33 <= p < 100 for p in progress), progress
    assert any(a.startswith("Fra:3 ") for a in ctx.activities)


def test_argument_order_is_flamenco_2s(make, ctx: RecordingContext, blender, scene_blend, tmp_path) -> None:
    expr = "print('Warning: Unable to open /textures/wood.png')"
    settings = render_settings(blender, scene_blend, tmp_path / "o", format="OPEN_EXR", frames="2", python_expr=expr)
    run(make("blender_render", settings))
    assert "Warning: Unable to open /textures/wood.png" in ctx.activities
    executing = next(line for line in ctx.logs if line.startswith("Executing "))
    assert executing.endswith(shlex.join([
        "--enable-autoexec", "-noaudio", "--background", str(scene_blend), "--python-expr", expr,
        "--render-output", f"{tmp_path}/o/frame-####", "--render-format", "EXR", "--render-frame", "2",
    ]))
    assert files_in(tmp_path / "o") == ["frame-0002.exr"]


def test_overrides_file_is_picked_up(make, ctx: RecordingContext, blender, scene_blend, tmp_path) -> None:
    blend = tmp_path / "shot.blend"
    shutil.copy(scene_blend, blend)
    overrides = "import bpy\nbpy.context.scene.render.resolution_x = 32\n"
    run(make("create_python_file", {"filepath": str(tmp_path / "shot-overrides.py"), "contents": overrides}))
    run(make("blender_render", render_settings(blender, blend, tmp_path / "o", frames="1")))
    assert png_size(tmp_path / "o" / "frame-0001.png") == (32, 48)
    assert f"--python-exit-code 42 --python {tmp_path}/shot-overrides.py" in ctx.log_text


def test_failing_overrides_fail_the_render(make, blender, scene_blend, tmp_path) -> None:
    blend = tmp_path / "shot.blend"
    shutil.copy(scene_blend, blend)
    (tmp_path / "shot-overrides.py").write_text("raise RuntimeError('broken override')\n")
    with pytest.raises(CommandFailed, match="failed with status 42") as info:
        run(make("blender_render", render_settings(blender, blend, tmp_path / "o", frames="1")))
    assert "broken override" in str(info.value)


def test_python_error_fails_even_though_blender_exits_0(make, blender, scene_blend, tmp_path) -> None:
    settings = render_settings(blender, scene_blend, tmp_path / "o", frames="1", python_expr="raise ValueError('nope')")
    with pytest.raises(CommandFailed, match="Blender reported 'Error: Python: Traceback"):
        run(make("blender_render", settings))


def test_corrupt_blend_file_fails(make, blender, tmp_path) -> None:
    (tmp_path / "bad.blend").write_text("not a blend file")
    with pytest.raises(CommandFailed, match="File format is not supported"):
        run(make("blender_render", render_settings(blender, tmp_path / "bad.blend", tmp_path / "o")))


def test_missing_blend_file_fails_naming_filepath(make, ctx: RecordingContext, blender, tmp_path) -> None:
    with pytest.raises(CommandFailed, match='"filepath" .*missing.blend does not exist'):
        run(make("blender_render", render_settings(blender, tmp_path / "missing.blend", tmp_path / "o")))
    assert any("checking again" in line for line in ctx.logs)


def test_missing_blender_fails_naming_blender_cmd(make, scene_blend, tmp_path) -> None:
    with pytest.raises(CommandFailed, match='"blender_cmd": program .*not found'):
        run(make("blender_render", render_settings("/opt/no-blender/blender", scene_blend, tmp_path / "o")))


@pytest.mark.parametrize(
    ("extra", "setting"),
    [({"format": "GIF"}, "format"), ({"frames": 3}, "frames"), ({"blender_cmd": ""}, "blender_cmd"),
     ({"blender_cmd": "'blender"}, "blender_cmd")],
)
def test_invalid_render_settings(make, scene_blend, tmp_path, extra, setting) -> None:
    with pytest.raises(CommandSettingsError) as info:
        make("blender_render", render_settings("blender", scene_blend, tmp_path, **extra))
    assert info.value.setting == setting


def test_cancelled_render_leaves_no_blender_behind(make, ctx: RecordingContext, blender, scene_blend, tmp_path) -> None:
    # Far more frames than Blender renders in the terminate grace period (it may
    # ignore SIGTERM mid-frame; tiny frames take ~7 ms each on an idle machine).
    command = make("blender_render", render_settings(blender, scene_blend, tmp_path / "o", frames="1..5000"))

    async def cancel_after_first_frame() -> None:
        task = asyncio.create_task(command.run())
        while not ctx.outputs:
            assert not task.done(), ctx.logs[-5:]
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_after_first_frame())
    pid = int(next(line for line in ctx.logs if line.startswith("TERMinating")).split("pid=")[1])
    assert not psutil.pid_exists(pid)
    assert len(files_in(tmp_path / "o")) < 5000


class TestProgressive:
    def chunk_settings(self, blender, blend, out, **extra) -> dict:
        return render_settings(blender, blend, out, frames="1", cycles_num_chunks=4, cycles_chunk_start=1,
                               cycles_chunk_end=2, **extra)

    def test_renders_with_chunk_arguments(self, make, ctx, blender, scene_blend, tmp_path) -> None:
        run(make("blender_render_progressive", self.chunk_settings(blender, scene_blend, tmp_path / "o")))
        assert files_in(tmp_path / "o") == ["frame-0001.png"]
        assert ("--render-frame 1 -- --cycles-resumable-num-chunks 4 --cycles-resumable-start-chunk 1 "
                "--cycles-resumable-end-chunk 2") in ctx.log_text

    def test_obsolete_cycles_chunk_is_refused(self, make, blender, scene_blend, tmp_path) -> None:
        with pytest.raises(CommandSettingsError) as info:
            make("blender_render_progressive", self.chunk_settings(blender, scene_blend, tmp_path, cycles_chunk=1))
        assert info.value.setting == "cycles_chunk"

    def test_chunk_end_beyond_count_is_refused(self, make, blender, scene_blend, tmp_path) -> None:
        with pytest.raises(CommandSettingsError, match="at most cycles_num_chunks"):
            make("blender_render_progressive", {**self.chunk_settings(blender, scene_blend, tmp_path), "cycles_chunk_end": 5})


def test_exr_sequence_to_jpeg(make, ctx, blender, scene_blend, exr_frames, tmp_path) -> None:
    for frame in exr_frames:
        shutil.copy(frame, tmp_path)
    settings = {"blender_cmd": blender, "filepath": str(scene_blend), "exr_glob": str(tmp_path / "*.exr"),
                "output_pattern": "preview-######"}
    run(make("exr_sequence_to_jpeg", settings))
    jpegs = sorted(tmp_path.glob("preview-*.jpg"))
    assert [p.name for p in jpegs] == ["preview-000001.jpg", "preview-000002.jpg", "preview-000003.jpg"]
    assert all(p.read_bytes()[:3] == b"\xff\xd8\xff" for p in jpegs)
    assert ctx.outputs == [str(p) for p in jpegs]
    assert ctx.progresses == [0, 33, 66, 99, 100]


def test_exr_sequence_to_jpeg_without_matches_fails(make, blender, scene_blend, tmp_path) -> None:
    settings = {"blender_cmd": blender, "filepath": str(scene_blend), "exr_directory": str(tmp_path)}
    with pytest.raises(CommandFailed, match="failed with status 32") as info:
        run(make("exr_sequence_to_jpeg", settings))
    assert "no files match" in str(info.value)


def test_exr_glob_and_directory_are_exclusive(make, scene_blend, tmp_path) -> None:
    with pytest.raises(CommandSettingsError) as info:
        make("exr_sequence_to_jpeg", {"blender_cmd": "blender", "filepath": str(scene_blend),
                                      "exr_glob": "*.exr", "exr_directory": str(tmp_path)})
    assert info.value.setting == "exr_directory"


MEAN_SCRIPT = """
import sys, bpy
for path in sys.argv[sys.argv.index('--') + 1:]:
    img = bpy.data.images.load(path)
    px = img.pixels[:]
    print('MEAN', sum(px[0::4]) / (len(px) // 4))
"""


def red_means(blender: str, *paths: Path) -> list[float]:
    """The mean red value of each image, read by Blender."""
    result = subprocess.run([blender, "-b", "--factory-startup", "--python-expr", MEAN_SCRIPT, "--", *map(str, paths)],
                            capture_output=True, text=True, check=True, timeout=120)
    return [float(line.split()[1]) for line in result.stdout.splitlines() if line.startswith("MEAN ")]


def test_merge_progressive_renders_weights_by_samples(make, ctx, blender, exr_frames, tmp_path) -> None:
    output = tmp_path / "merged" / "latest.exr"
    settings = {"blender_cmd": blender, "input1": str(exr_frames[0]), "input2": str(exr_frames[2]),
                "output": str(output), "weight1": 1, "weight2": 3}
    run(make("merge_progressive_renders", settings))
    assert files_in(output.parent) == ["latest.exr"]
    assert ctx.outputs == [str(output)]
    mean1, mean3, merged = red_means(blender, exr_frames[0], exr_frames[2], output)
    assert merged == pytest.approx(0.25 * mean1 + 0.75 * mean3, rel=1e-3)


def test_merge_refuses_quotes_and_missing_inputs(make, blender, exr_frames, tmp_path) -> None:
    base = {"blender_cmd": blender, "input1": str(exr_frames[0]), "input2": str(tmp_path / "missing.exr"),
            "output": str(tmp_path / "m.exr"), "weight1": 1, "weight2": 1}
    with pytest.raises(CommandSettingsError, match="'output': must not contain \""):
        make("merge_progressive_renders", {**base, "output": str(tmp_path / 'a"b.exr')})
    with pytest.raises(CommandFailed, match='"input2" .*missing.exr does not exist'):
        run(make("merge_progressive_renders", base))


def test_merge_progressive_render_sequence(make, ctx, blender, exr_frames, tmp_path) -> None:
    settings = {"blender_cmd": blender, "input1": str(exr_frames[0]), "input2": str(exr_frames[0]),
                "output": str(tmp_path / "seq" / "merged-####"), "weight1": 2, "weight2": 2,
                "frame_start": 1, "frame_end": 3}
    run(make("merge_progressive_render_sequence", settings))
    expected = [f"merged-000{n}.exr" for n in (1, 2, 3)]
    assert files_in(tmp_path / "seq") == expected
    assert ctx.outputs == [str(tmp_path / "seq" / name) for name in expected]


def test_blender_render_audio(make, ctx, blender, ffprobe, tone_wav, tmp_path) -> None:
    from .conftest import make_blend

    blend = make_blend(blender, tmp_path / "audio.blend", str(tone_wav))
    output = tmp_path / "audio" / "mix.flac"
    run(make("blender_render_audio", {"blender_cmd": blender, "filepath": str(blend), "render_output": str(output),
                                      "frame_start": 1, "frame_end": 12}))
    probe = subprocess.run([ffprobe, "-v", "error", "-show_entries", "stream=codec_name:format=duration",
                            "-of", "default=nw=1", str(output)], capture_output=True, text=True, check=True)
    assert "codec_name=flac" in probe.stdout
    assert "duration=0.500000" in probe.stdout  # 12 frames at 24 fps
    assert ctx.outputs == [str(output)]
