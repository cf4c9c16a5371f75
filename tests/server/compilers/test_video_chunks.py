"""``blender-video-chunks`` (reference §4.7)."""
from __future__ import annotations

from flamenco.job_compilers import compile_job
from tests.server.compilers.conftest import by_name, make_job, summary

SETTINGS = {"filepath": "/shots/edit.flamenco.blend", "render_output": "/render/edit/ignored-######",
            "frames": "100-250", "chunk_size": 100, "output_file_extension": ".mkv", "images_or_video": "video",
            "fps": 24, "extract_audio": True}
FRAMES = "/render/edit/frames"


def test_with_audio() -> None:
    tasks = compile_job(make_job("blender-video-chunks", SETTINGS))
    assert summary(tasks) == [
        ("move-out-of-way", "file-management", 50, []),
        ("frame-chunk-100-199", "blender-render", 50, ["move-out-of-way"]),
        ("video-chunk-100-199", "video-encoding", 50, ["frame-chunk-100-199"]),
        ("frame-chunk-200-250", "blender-render", 50, ["move-out-of-way"]),
        ("video-chunk-200-250", "video-encoding", 50, ["frame-chunk-200-250"]),
        ("render-audio", "blender-render", 50, ["move-out-of-way"]),
        ("encode-audio", "video-encoding", 50, ["render-audio"]),
        ("concatenate-videos", "video-encoding", 50, ["video-chunk-100-199", "video-chunk-200-250"]),
        ("mux-audio-video", "video-encoding", 50, ["encode-audio", "concatenate-videos"]),
        ("move-with-counter", "file-management", 50, ["mux-audio-video"]),
    ]
    named = by_name(tasks)
    assert named["move-out-of-way"]["commands"] == [{"name": "move_out_of_way", "settings": {"src": FRAMES}}]
    assert named["frame-chunk-100-199"]["commands"] == [{"name": "blender_render", "settings": {
        "blender_cmd": "{blender}", "filepath": "/shots/edit.flamenco.blend", "format": "JPEG",
        "render_output": f"{FRAMES}/chunk-00100-00199/######.jpg", "frames": "100..199"}}]
    assert named["video-chunk-200-250"]["commands"] == [{"name": "create_video", "settings": {
        "input_files": f"{FRAMES}/chunk-00200-00250/*.jpg", "output_file": f"{FRAMES}/chunk-00200-00250.mkv",
        "fps": 24, "ffmpeg_cmd": "{ffmpeg}"}}]
    assert named["render-audio"]["commands"] == [{"name": "blender_render_audio", "settings": {
        "blender_cmd": "{blender}", "filepath": "/shots/edit.flamenco.blend",
        "render_output": f"{FRAMES}/audio.flac", "frame_start": 100, "frame_end": 250}}]
    assert named["encode-audio"]["commands"] == [{"name": "encode_audio", "settings": {
        "input_file": f"{FRAMES}/audio.flac", "codec": "aac", "bitrate": "192k",
        "output_file": f"{FRAMES}/audio.aac", "ffmpeg_cmd": "{ffmpeg}"}}]
    assert named["concatenate-videos"]["commands"] == [{"name": "concatenate_videos", "settings": {
        "input_files": f"{FRAMES}/chunk-*.mkv", "output_file": f"{FRAMES}/video.mkv", "ffmpeg_cmd": "{ffmpeg}",
        "counter_in_output_name": False}}]
    assert named["mux-audio-video"]["commands"] == [{"name": "mux_audio", "settings": {
        "audio_file": f"{FRAMES}/audio.aac", "video_file": f"{FRAMES}/video.mkv",
        "output_file": f"{FRAMES}/muxed.mkv", "ffmpeg_cmd": "{ffmpeg}"}}]
    assert named["move-with-counter"]["commands"] == [{"name": "move_with_counter", "settings": {
        "src": f"{FRAMES}/muxed.mkv", "dest": "/render/edit/2018_07_06-edit.mkv"}}]


def test_without_audio_moves_the_concatenated_video() -> None:
    """Flamenco 2 moved the never-produced muxed file here (§14.17)."""
    tasks = compile_job(make_job("blender-video-chunks", {**SETTINGS, "extract_audio": False}))
    names = [task["name"] for task in tasks]
    assert "render-audio" not in names and "mux-audio-video" not in names
    assert summary(tasks)[-1] == ("move-with-counter", "file-management", 50, ["concatenate-videos"])
    assert tasks[-1]["commands"][0]["settings"]["src"] == f"{FRAMES}/video.mkv"


def test_rna_overrides_between_move_and_chunks() -> None:
    tasks = compile_job(make_job("blender-video-chunks", {**SETTINGS, "rna_overrides": ["x = 1"]}))
    rows = summary(tasks)
    assert rows[1] == ("rna-overrides", "file-management", 50, ["move-out-of-way"])
    assert rows[2][3] == ["rna-overrides"]
