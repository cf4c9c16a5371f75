"""FFmpeg commands with Debian's real FFmpeg; results checked with ffprobe."""
from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from flamenco_worker.commands import CommandFailed, CommandSettingsError

from .conftest import RecordingContext, files_in


def run(command) -> None:
    asyncio.run(command.run())


def probe(ffprobe: str, path: Path) -> dict:
    """ffprobe's streams and format of ``path``, counting video frames exactly."""
    result = subprocess.run(
        [ffprobe, "-v", "error", "-count_frames", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True, text=True, check=True, timeout=60,
    )
    return json.loads(result.stdout)


def stream(info: dict, kind: str) -> dict:
    return next(s for s in info["streams"] if s["codec_type"] == kind)


def make_frames(ffmpeg: str, directory: Path, count: int, size: str = "63x47") -> None:
    """``count`` PNG frames of FFmpeg's test pattern (odd size, to exercise the padding)."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", f"testsrc=size={size}:rate=24", "-frames:v", str(count),
                    str(directory / "frame-%04d.png")], check=True, timeout=60)


def test_create_video_from_frames(make, ctx: RecordingContext, ffmpeg, ffprobe, tmp_path) -> None:
    make_frames(ffmpeg, tmp_path / "frames", 7)
    output = tmp_path / "video" / "preview.mp4"
    run(make("create_video", {"ffmpeg_cmd": ffmpeg, "input_files": str(tmp_path / "frames" / "*.png"),
                              "output_file": str(output), "fps": 24}))
    video = stream(probe(ffprobe, output), "video")
    assert int(video["nb_read_frames"]) == 7
    assert (video["codec_name"], video["pix_fmt"]) == ("h264", "yuv420p")
    assert (video["width"], video["height"]) == (64, 48)  # padded to even dimensions
    assert video["r_frame_rate"] == "24/1"
    assert ctx.outputs == [str(output)]
    assert " -pattern_type glob -i " in ctx.log_text
    assert ctx.progresses[0] == 0 and ctx.progresses[-1] == 100
    assert ctx.progresses == sorted(ctx.progresses)
    assert any(0 < p < 100 for p in ctx.progresses), ctx.progresses  # from "frame=" status lines


def test_create_video_without_frames_fails_naming_input_files(make, tmp_path) -> None:
    with pytest.raises(CommandFailed, match='"input_files" .* matches no files'):
        run(make("create_video", {"input_files": str(tmp_path / "*.png"), "output_file": str(tmp_path / "v.mp4"),
                                  "fps": 24}))


@pytest.mark.parametrize(("settings", "setting"), [
    ({"fps": "24"}, "fps"), ({"fps": 0}, "fps"), ({"output_file": None}, "output_file"), ({"ffmpeg_cmd": " "}, "ffmpeg_cmd"),
])
def test_create_video_invalid_settings(make, tmp_path, settings, setting) -> None:
    base = {"input_files": "*.png", "output_file": str(tmp_path / "v.mp4"), "fps": 24}
    with pytest.raises(CommandSettingsError) as info:
        make("create_video", {**base, **settings})
    assert info.value.setting == setting


def test_missing_ffmpeg_fails_naming_ffmpeg_cmd(make, ffmpeg, tmp_path) -> None:
    make_frames(ffmpeg, tmp_path, 1)
    with pytest.raises(CommandFailed, match='"ffmpeg_cmd": program .*not found'):
        run(make("create_video", {"ffmpeg_cmd": "no-such-ffmpeg", "input_files": str(tmp_path / "*.png"),
                                  "output_file": str(tmp_path / "v.mp4"), "fps": 24}))


def test_ffmpeg_failure_quotes_its_output(make, ffmpeg, tmp_path) -> None:
    (tmp_path / "frame-0001.png").write_text("not an image")
    with pytest.raises(CommandFailed, match="failed with status") as info:
        run(make("create_video", {"input_files": str(tmp_path / "*.png"), "output_file": str(tmp_path / "v.mp4"),
                                  "fps": 24}))
    assert "last output" in str(info.value)


def test_concatenate_videos(make, ctx: RecordingContext, ffmpeg, ffprobe, tmp_path) -> None:
    for chunk, count in (("a", 3), ("b", 4)):
        make_frames(ffmpeg, tmp_path / chunk, count, size="64x48")
        run(make("create_video", {"input_files": str(tmp_path / chunk / "*.png"),
                                  "output_file": str(tmp_path / "chunks" / f"chunk-{chunk}.mp4"), "fps": 24}))
    output = tmp_path / "edit.mp4"
    run(make("concatenate_videos", {"input_files": str(tmp_path / "chunks" / "chunk-*.mp4"), "output_file": str(output)}))
    assert int(stream(probe(ffprobe, output), "video")["nb_read_frames"]) == 7
    assert files_in(tmp_path / "chunks") == ["chunk-a.mp4", "chunk-b.mp4"]  # the index file is gone
    assert ctx.outputs[-1] == str(output)


def test_concatenate_videos_with_counter(make, ffmpeg, tmp_path) -> None:
    make_frames(ffmpeg, tmp_path / "f", 2, size="64x48")
    run(make("create_video", {"input_files": str(tmp_path / "f" / "*.png"), "output_file": str(tmp_path / "c" / "x.mp4"),
                              "fps": 24}))
    for _ in range(2):
        run(make("concatenate_videos", {"input_files": str(tmp_path / "c" / "*.mp4"),
                                        "output_file": str(tmp_path / "out" / "2024_01_01-edit.mp4"),
                                        "counter_in_output_name": True}))
    assert files_in(tmp_path / "out") == ["2024_01_01_001-edit.mp4", "2024_01_01_002-edit.mp4"]


def test_encode_and_mux_audio(make, ctx: RecordingContext, ffmpeg, ffprobe, tone_wav, tmp_path) -> None:
    aac = tmp_path / "audio" / "tone.aac"
    run(make("encode_audio", {"input_file": str(tone_wav), "output_file": str(aac), "codec": "aac", "bitrate": "96k"}))
    audio = probe(ffprobe, aac)
    assert stream(audio, "audio")["codec_name"] == "aac"
    assert float(audio["format"]["duration"]) == pytest.approx(1.0, abs=0.1)

    make_frames(ffmpeg, tmp_path / "frames", 24, size="64x48")
    video = tmp_path / "video.mp4"
    run(make("create_video", {"input_files": str(tmp_path / "frames" / "*.png"), "output_file": str(video), "fps": 24}))
    muxed = tmp_path / "final" / "with-sound.mp4"
    run(make("mux_audio", {"audio_file": str(aac), "video_file": str(video), "output_file": str(muxed)}))
    info = probe(ffprobe, muxed)
    assert stream(info, "audio")["codec_name"] == "aac"
    assert int(stream(info, "video")["nb_read_frames"]) == 24
    assert ctx.outputs == [str(aac), str(video), str(muxed)]


def test_encode_audio_requires_codec_and_existing_input(make, tmp_path) -> None:
    with pytest.raises(CommandSettingsError) as info:
        make("encode_audio", {"input_file": "in.wav", "output_file": "out.aac", "bitrate": "96k"})
    assert info.value.setting == "codec"
    with pytest.raises(CommandFailed, match='"input_file" .*missing.wav does not exist'):
        run(make("encode_audio", {"input_file": str(tmp_path / "missing.wav"), "output_file": str(tmp_path / "o.aac"),
                                  "codec": "aac", "bitrate": "96k"}))


def test_mux_audio_requires_existing_video(make, tone_wav, tmp_path) -> None:
    with pytest.raises(CommandFailed, match='"video_file" .* does not exist'):
        run(make("mux_audio", {"audio_file": str(tone_wav), "video_file": str(tmp_path / "none.mp4"),
                               "output_file": str(tmp_path / "o.mp4")}))
