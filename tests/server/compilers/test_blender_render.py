"""``blender-render`` (reference §4.5)."""
from __future__ import annotations

from flamenco.job_compilers import compile_job
from tests.server.compilers.conftest import INTERMEDIATE, by_name, make_job, summary

SETTINGS = {"filepath": "/shots/shot.flamenco.blend", "render_output": "/render/out/frames-######",
            "frames": "1-5", "chunk_size": 2, "format": "PNG"}
VIDEO_SETTINGS = {**SETTINGS, "images_or_video": "images", "fps": 24, "output_file_extension": ".png"}
VIDEO_MANAGER = {"worker_task_types": ["blender-render", "file-management", "video-encoding"]}


def test_render_chunks_then_move_to_final() -> None:
    tasks = compile_job(make_job("blender-render", SETTINGS))
    render_names = ["blender-render-1,2", "blender-render-3,4", "blender-render-5"]
    assert summary(tasks) == [
        *[(name, "blender-render", 50, []) for name in render_names],
        ("move-to-final", "file-management", 50, render_names),
    ]
    assert tasks[0]["commands"] == [{"name": "blender_render", "settings": {
        "blender_cmd": "{blender}", "filepath": "/shots/shot.flamenco.blend", "format": "PNG",
        "render_output": f"{INTERMEDIATE}/frames-######", "frames": "1,2"}}]
    assert tasks[-1]["commands"] == [{"name": "move_to_final", "settings": {"src": INTERMEDIATE,
                                                                             "dest": "/render/out"}}]


def test_blender_style_frames_in_command() -> None:
    tasks = compile_job(make_job("blender-render", {**SETTINGS, "frames": "1-10,20", "chunk_size": 11}))
    assert tasks[0]["name"] == "blender-render-1-10,20"
    assert tasks[0]["commands"][0]["settings"]["frames"] == "1..10,20"


def test_create_video_when_manager_can_encode() -> None:
    tasks = compile_job(make_job("blender-render", VIDEO_SETTINGS), manager=VIDEO_MANAGER)
    render_names = ["blender-render-1,2", "blender-render-3,4", "blender-render-5"]
    assert summary(tasks)[-2:] == [
        ("create-video", "video-encoding", 50, render_names),
        ("move-to-final", "file-management", 50, ["create-video"]),
    ]
    assert by_name(tasks)["create-video"]["commands"] == [{"name": "create_video", "settings": {
        "input_files": f"{INTERMEDIATE}/*.png", "output_file": f"{INTERMEDIATE}/shot-1-5.mp4", "fps": 24,
        "ffmpeg_cmd": "{ffmpeg}"}}]


def test_no_video_unless_all_conditions_hold() -> None:
    variants = [
        ({**VIDEO_SETTINGS, "images_or_video": "video"}, VIDEO_MANAGER),
        ({**VIDEO_SETTINGS, "frames": "3"}, VIDEO_MANAGER),
        ({**VIDEO_SETTINGS, "format": "OPEN_EXR"}, VIDEO_MANAGER),
        ({**VIDEO_SETTINGS, "format": "exr"}, VIDEO_MANAGER),
        ({k: v for k, v in VIDEO_SETTINGS.items() if k != "fps"}, VIDEO_MANAGER),
        ({k: v for k, v in VIDEO_SETTINGS.items() if k != "output_file_extension"}, VIDEO_MANAGER),
        ({k: v for k, v in VIDEO_SETTINGS.items() if k != "format"}, VIDEO_MANAGER),  # KeyError in Flamenco 2
        (VIDEO_SETTINGS, {"worker_task_types": ["blender-render"]}),
        (VIDEO_SETTINGS, {}),
        (VIDEO_SETTINGS, None),
    ]
    for settings, manager in variants:
        names = [task["name"] for task in compile_job(make_job("blender-render", settings), manager=manager)]
        assert "create-video" not in names, (settings, manager)


def test_rna_overrides_task_is_parent_of_renders() -> None:
    settings = {**SETTINGS, "rna_overrides": ["bpy.context.scene.render.resolution_x = 100"]}
    tasks = compile_job(make_job("blender-render", settings))
    assert summary(tasks)[:2] == [("rna-overrides", "file-management", 50, []),
                                  ("blender-render-1,2", "blender-render", 50, ["rna-overrides"])]
    command = tasks[0]["commands"][0]
    assert command["name"] == "create_python_file"
    assert command["settings"]["filepath"] == "/shots/shot.flamenco-overrides.py"
    contents = command["settings"]["contents"]
    assert contents.startswith("#")
    assert contents.endswith("import bpy\nbpy.context.scene.render.resolution_x = 100\n")


def test_windows_paths_keep_their_separators() -> None:
    settings = {**SETTINGS, "filepath": "C:\\shots\\shot.blend", "render_output": "C:\\render\\out\\######"}
    tasks = compile_job(make_job("blender-render", settings))
    assert tasks[-1]["commands"][0]["settings"] == {
        "src": "C:\\render\\out__intermediate-2018-07-06_115233", "dest": "C:\\render\\out"}
    assert tasks[0]["commands"][0]["settings"]["render_output"] == (
        "C:\\render\\out__intermediate-2018-07-06_115233\\######")


def test_custom_blender_cmd_and_job_priority_copied() -> None:
    tasks = compile_job(make_job("blender-render", {**SETTINGS, "blender_cmd": "{blender} --factory-startup"},
                                 priority=90))
    assert tasks[0]["commands"][0]["settings"]["blender_cmd"] == "{blender} --factory-startup"
    assert {task["job_priority"] for task in tasks} == {90}
