"""``blender-render`` (reference §4.5): render frame chunks into an intermediate dir, optionally
encode a video, then move the whole dir to its final place."""
from __future__ import annotations

from typing import Any, Mapping

from bson import ObjectId

from flamenco import frame_ranges
from flamenco.job_compilers import blender, commands, paths
from flamenco.job_compilers import settings as checks
from flamenco.job_compilers.tasks import TaskFactory

NAME = "blender-render"
# The rna-overrides task has no parent here; every render task depends on it.
RNA_OVERRIDES_PARENT = None

# Formats FFmpeg cannot turn into a video, so no create-video task for them.
NON_VIDEO_FORMATS = frozenset({"EXR", "MULTILAYER", "OPEN_EXR", "OPEN_EXR_MULTILAYER"})
# The Worker task type that encodes videos; the Manager must have a Worker for it.
VIDEO_TASK_TYPE = "video-encoding"
# A video of fewer frames is pointless.
MIN_VIDEO_FRAMES = 2


def parse(job: Mapping[str, Any], *, compiling: bool) -> blender.BlenderSettings:
    settings = blender.parse_blender_settings(job, compiling=compiling)
    blender.check_frame_placeholder(settings.render_output)
    checks.require_choice(settings.raw, "images_or_video", ("images", "video"), required=False)
    checks.require_string(settings.raw, "output_file_extension", required=False)
    return settings


def compile_tasks(job: Mapping[str, Any], settings: blender.BlenderSettings, tasks: TaskFactory,
                  manager: Mapping[str, Any] | None) -> None:
    final_dir = paths.parent(settings.render_output)
    render_dir = blender.intermediate_dir(job, settings.render_output)
    render_output = paths.join(render_dir, paths.name(settings.render_output))

    rna_task = blender.add_rna_overrides_task(tasks, settings, parents=[])
    render_parents = [rna_task] if rna_task else []
    render_tasks = [
        tasks.add(f"blender-render-{frame_ranges.merge_frame_range(chunk)}", "blender-render", [
            commands.blender_render(blender_cmd=settings.blender_cmd, filepath=settings.filepath,
                                    format=settings.format, render_output=render_output,
                                    frames=frame_ranges.merge_frame_range(chunk, blender_style=True)),
        ], parents=render_parents)
        for chunk in frame_ranges.iter_frame_chunks(settings.frames, settings.chunk_size)
    ]
    video_task = _add_create_video_task(tasks, settings, manager, render_dir, render_tasks)
    tasks.add("move-to-final", "file-management", [
        commands.move_to_final(src=render_dir, dest=final_dir),
    ], parents=[video_task] if video_task else render_tasks)


def wants_video(settings: blender.BlenderSettings, manager: Mapping[str, Any] | None) -> bool:
    """Whether to add create-video; a missing ``format`` means no video (Flamenco 2 raised KeyError)."""
    raw = settings.raw
    worker_task_types = (manager or {}).get("worker_task_types") or []
    return (raw.get("images_or_video") == "images"
            and len(settings.frames) >= MIN_VIDEO_FRAMES
            and settings.format is not None and settings.format.upper() not in NON_VIDEO_FORMATS
            and settings.fps is not None
            and bool(raw.get("output_file_extension"))
            and VIDEO_TASK_TYPE in worker_task_types)


# Flamenco 2 wrote the preview video as .mkv; H.264 in MP4 is what review
# tools, browsers and editors open without asking, so the render job's video is .mp4.
VIDEO_EXTENSION = ".mp4"


def _add_create_video_task(tasks: TaskFactory, settings: blender.BlenderSettings,
                           manager: Mapping[str, Any] | None, render_dir: str,
                           render_tasks: list[ObjectId]) -> ObjectId | None:
    if not wants_video(settings, manager):
        return None
    extension = settings.raw["output_file_extension"]
    output_file = paths.join(render_dir, f"{blender.blend_stem(settings.filepath or '')}-{settings.frames_text}"
                                         f"{VIDEO_EXTENSION}")
    return tasks.add("create-video", VIDEO_TASK_TYPE, [
        commands.create_video(input_files=paths.join(render_dir, f"*{extension}"),
                              output_file=output_file, fps=settings.fps),
    ], parents=render_tasks)
