"""Job validation: every error names the field and says why (reference §4, §14.17)."""
from __future__ import annotations

import pytest

from flamenco.job_compilers import JOB_TYPES, BLENDER_JOB_TYPES, JobSettingsError, compile_job, validate_job
from tests.server.compilers.conftest import make_job

RENDER = {"filepath": "/s/shot.blend", "render_output": "/render/out/######", "frames": "1-5", "chunk_size": 2}
PROGRESSIVE = {**RENDER, "blender_cmd": "{blender}", "format": "OPEN_EXR", "cycles_sample_count": 30,
               "cycles_sample_cap": 30, "fps": 24}
VIDEO_CHUNKS = {**RENDER, "output_file_extension": ".mkv", "images_or_video": "video", "fps": 24,
                "extract_audio": False}


def error_of(job: dict) -> JobSettingsError:
    with pytest.raises(JobSettingsError) as info:
        validate_job(job)
    assert info.value.reason
    assert str(info.value) == f"{info.value.field}: {info.value.reason}"
    return info.value


def test_registry_has_the_five_job_types() -> None:
    assert set(JOB_TYPES) == {"sleep", "exec-command", "blender-render", "blender-render-progressive",
                              "blender-video-chunks"}
    assert BLENDER_JOB_TYPES == {"blender-render", "blender-render-progressive", "blender-video-chunks"}


@pytest.mark.parametrize("job_type", ["bogus", None, 3])
def test_unknown_job_type_names_job_type(job_type) -> None:
    """Flamenco 2 raised KeyError, a 500 (§14.17)."""
    error = error_of(make_job(job_type, {}))
    assert error.field == "job_type"
    assert "sleep" in error.reason


def test_missing_settings_object() -> None:
    job = make_job("sleep", {})
    job["settings"] = "frames=1-3"
    assert error_of(job).field == "settings"


@pytest.mark.parametrize("job_type,settings,field,reason_part", [
    ("sleep", {"chunk_size": 1, "time_in_seconds": 1}, "settings.frames", "is required"),
    ("sleep", {"frames": "1-3", "time_in_seconds": 1}, "settings.chunk_size", "is required"),
    ("sleep", {"frames": "1-3", "chunk_size": 1}, "settings.time_in_seconds", "is required"),
    ("sleep", {"frames": "x", "chunk_size": 1, "time_in_seconds": 1}, "settings.frames", "not a frame number"),
    ("sleep", {"frames": "1-3", "chunk_size": 0, "time_in_seconds": 1}, "settings.chunk_size", "at least 1"),
    ("sleep", {"frames": "1-3", "chunk_size": "2", "time_in_seconds": 1}, "settings.chunk_size", "integer"),
    ("sleep", {"frames": "1-3", "chunk_size": True, "time_in_seconds": 1}, "settings.chunk_size", "integer"),
    ("sleep", {"frames": "1-3", "chunk_size": 1, "time_in_seconds": "long"}, "settings.time_in_seconds", "number"),
    ("sleep", {"frames": "1-3", "chunk_size": 1, "time_in_seconds": -1}, "settings.time_in_seconds", "at least"),
    ("sleep", {"frames": "1-3", "chunk_size": 1, "time_in_seconds": float("inf")}, "settings.time_in_seconds",
     "finite number"),
    ("exec-command", {}, "settings.cmd", "is required"),
    ("exec-command", {"cmd": "echo 'unbalanced"}, "settings.cmd", "cannot be split"),
    ("exec-command", {"cmd": ["ls"]}, "settings.cmd", "non-empty string"),
    ("blender-render", {**RENDER, "filepath": "/s/shot.txt"}, "settings.filepath", ".blend"),
    ("blender-render", {k: v for k, v in RENDER.items() if k != "filepath"}, "settings.filepath", "is required"),
    ("blender-render", {k: v for k, v in RENDER.items() if k != "render_output"}, "settings.render_output",
     "is required"),
    ("blender-render", {**RENDER, "render_output": "frames-####"}, "settings.render_output", "directory"),
    ("blender-render", {**RENDER, "render_output": "render/out/####"}, "settings.render_output", "absolute path"),
    ("blender-render", {**RENDER, "render_output": "/render/out/frames"}, "settings.render_output", "'#'"),
    ("blender-video-chunks", {**VIDEO_CHUNKS, "render_output": "edit/x"}, "settings.render_output", "absolute path"),
    ("blender-render", {**RENDER, "fps": "fast"}, "settings.fps", "number"),
    ("blender-render", {**RENDER, "rna_overrides": "bpy.x = 1"}, "settings.rna_overrides", "list of strings"),
    ("blender-render", {**RENDER, "rna_overrides": ["ok", 3]}, "settings.rna_overrides", "list of strings"),
    ("blender-render", {**RENDER, "images_or_video": "film"}, "settings.images_or_video", "images, video"),
    ("blender-render-progressive", {**PROGRESSIVE, "cycles_num_chunks": 4}, "settings.cycles_num_chunks",
     "outdated"),
    ("blender-render-progressive", {**PROGRESSIVE, "format": "PNG"}, "settings.format", "OPEN_EXR"),
    ("blender-render-progressive", {k: v for k, v in PROGRESSIVE.items() if k != "blender_cmd"},
     "settings.blender_cmd", "is required"),
    ("blender-render-progressive", {**PROGRESSIVE, "render_output": "/out/#####"}, "settings.render_output",
     "exactly six"),
    ("blender-render-progressive", {**PROGRESSIVE, "render_output": "/out/#######"}, "settings.render_output",
     "exactly six"),
    ("blender-render-progressive", {k: v for k, v in PROGRESSIVE.items() if k != "fps"}, "settings.fps",
     "is required"),
    ("blender-render-progressive", {**PROGRESSIVE, "cycles_sample_count": 1}, "settings.cycles_sample_cap",
     "not be progressive"),
    ("blender-render-progressive", {**PROGRESSIVE, "cycles_sample_count": 10**9, "cycles_sample_cap": 1},
     "settings.cycles_sample_cap", "more than 1000 sample chunks"),
    ("blender-render-progressive", {**PROGRESSIVE, "cycles_sample_count": 0}, "settings.cycles_sample_count",
     "at least 1"),
    ("blender-video-chunks", {**VIDEO_CHUNKS, "images_or_video": "images"}, "settings.images_or_video", "video"),
    ("blender-video-chunks", {**VIDEO_CHUNKS, "extract_audio": "yes"}, "settings.extract_audio", "true or false"),
    ("blender-video-chunks", {k: v for k, v in VIDEO_CHUNKS.items() if k != "output_file_extension"},
     "settings.output_file_extension", "is required"),
])
def test_bad_settings_name_field_and_reason(job_type: str, settings: dict, field: str, reason_part: str) -> None:
    error = error_of(make_job(job_type, settings))
    assert error.field == field
    assert reason_part in error.reason


def test_waiting_for_files_job_may_lack_filepath_until_compiled() -> None:
    job = make_job("blender-render", {k: v for k, v in RENDER.items() if k != "filepath"}, status="waiting-for-files")
    validate_job(job)
    with pytest.raises(JobSettingsError) as info:
        compile_job(job)
    assert info.value.field == "settings.filepath"


def test_valid_settings_pass() -> None:
    for job_type, settings in [("blender-render", RENDER), ("blender-render-progressive", PROGRESSIVE),
                               ("blender-video-chunks", VIDEO_CHUNKS),
                               ("sleep", {"frames": "1", "chunk_size": 1, "time_in_seconds": 0.5}),
                               ("exec-command", {"cmd": "ls -la"})]:
        validate_job(make_job(job_type, settings))


def test_compile_needs_stored_job() -> None:
    job = make_job("exec-command", {"cmd": "ls"})
    del job["_id"]
    with pytest.raises(JobSettingsError) as info:
        compile_job(job)
    assert info.value.field == "_id"
