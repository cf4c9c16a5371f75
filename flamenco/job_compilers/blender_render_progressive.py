"""``blender-render-progressive`` (reference §4.6): render Cycles sample chunks, merge them
progressively, publish previews after each chunk, then publish the final EXRs, JPEGs and video."""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping

from bson import ObjectId

from flamenco import frame_ranges
from flamenco.job_compilers import blender, commands, paths
from flamenco.job_compilers import settings as checks
from flamenco.job_compilers.sample_chunks import UNCAPPED_CHUNKS, frame_chunk_size, sample_chunks
from flamenco.job_compilers.tasks import TaskFactory

NAME = "blender-render-progressive"
# The task that the rna-overrides task, and through it all renders, depend on.
RNA_OVERRIDES_PARENT = "destroy-preexisting-intermediate"

# The merge commands only read EXR files.
ACCEPTED_FORMATS = ("OPEN_EXR", "EXR")
# render_output must end in exactly six '#': intermediate names use %06i.
RENDER_OUTPUT_PATTERN = re.compile(r"(?<!#)######$")
# Priority of everything after the first sample chunk's renders: previews and
# merges first, so the user sees progress early.
FOLLOW_UP_PRIORITY = 1
# Each later sample chunk renders at a lower priority than the previous one.
SAMPLE_CHUNK_PRIORITY_STEP = 10
PREVIEW_PATTERN = "preview-######"
# Each sample chunk renders every frame again and adds merge and preview
# tasks; more chunks than this is a typo in the sample count or cap.
MAX_SAMPLE_CHUNKS = 1000


@dataclasses.dataclass
class ProgressiveSettings:
    blender: blender.BlenderSettings
    sample_count: int
    sample_cap: int
    chunks: list[tuple[int, int]]


def parse(job: Mapping[str, Any], *, compiling: bool) -> ProgressiveSettings:
    """Blender checks plus the progressive ones; a job that would not be progressive is refused up front."""
    settings = blender.parse_blender_settings(job, compiling=compiling, required_blender_cmd=True)
    raw = settings.raw
    if "cycles_num_chunks" in raw:
        raise checks.JobSettingsError("settings.cycles_num_chunks",
                                      "job created using an outdated Blender Cloud add-on; please upgrade it")
    format_ = checks.require_string(raw, "format")
    if format_.upper() not in ACCEPTED_FORMATS:
        raise checks.JobSettingsError("settings.format", f"must be one of {', '.join(ACCEPTED_FORMATS)}, got {format_!r}")
    if not RENDER_OUTPUT_PATTERN.search(settings.render_output):
        raise checks.JobSettingsError("settings.render_output", "must end in exactly six '#' (e.g. '/out/######')")
    checks.require_number(raw, "fps")
    sample_count = checks.require_int(raw, "cycles_sample_count")
    sample_cap = checks.require_int(raw, "cycles_sample_cap")
    if sample_count > sample_cap * MAX_SAMPLE_CHUNKS:
        raise checks.JobSettingsError(
            "settings.cycles_sample_cap",
            f"{sample_count} samples capped at {sample_cap} give more than {MAX_SAMPLE_CHUNKS} sample chunks")
    chunks = list(sample_chunks(sample_count, sample_cap, UNCAPPED_CHUNKS))
    if len(chunks) < 2:
        raise checks.JobSettingsError(
            "settings.cycles_sample_cap",
            f"{sample_count} samples capped at {sample_cap} give a single chunk; the job would not be progressive")
    return ProgressiveSettings(blender=settings, sample_count=sample_count, sample_cap=sample_cap, chunks=chunks)


@dataclasses.dataclass
class _Paths:
    """File names of one progressive job, all inside the intermediate dir."""

    intermediate: str

    def render(self, start: int, end: int) -> str:
        return paths.join(self.intermediate, f"render-smpl-{start:04d}-{end:04d}-######")

    def render_glob(self, start: int, end: int) -> str:
        return paths.join(self.intermediate, f"render-smpl-{start:04d}-{end:04d}-*.exr")

    def merge(self, end: int) -> str:
        return paths.join(self.intermediate, f"merge-smpl-{end:04d}-######")

    def merge_glob(self, end: int) -> str:
        return paths.join(self.intermediate, f"merge-smpl-{end:04d}-*.exr")

    def preview_video(self) -> str:
        return paths.join(self.intermediate, "preview.mkv")


@dataclasses.dataclass
class _Chain:
    """The latest merge/preview tasks, which the next sample chunk builds on."""

    merge_parents: list[ObjectId]
    merge_output: str
    images: ObjectId
    video: ObjectId | None


def compile_tasks(job: Mapping[str, Any], settings: ProgressiveSettings, tasks: TaskFactory,
                  manager: Mapping[str, Any] | None) -> None:
    bs = settings.blender
    files = _Paths(intermediate=blender.intermediate_dir(job, bs.render_output))
    destroy = tasks.add(RNA_OVERRIDES_PARENT, "file-management", [
        commands.remove_tree(path=files.intermediate),
    ])
    rna_task = blender.add_rna_overrides_task(tasks, bs, parents=[destroy])
    render_parents = [rna_task or destroy]
    do_render_video = len(bs.frames) > 1

    chain: _Chain | None = None
    for index, (start, end) in enumerate(settings.chunks):
        render_tasks = _add_render_tasks(tasks, settings, files, start, end, render_parents,
                                         priority=-SAMPLE_CHUNK_PRIORITY_STEP * index)
        if chain is None:
            chain = _add_first_previews(tasks, settings, files, start, end, render_tasks, do_render_video)
        else:
            chain = _add_merge_and_previews(tasks, settings, files, chain, start, end, render_tasks,
                                            do_render_video)
    assert chain is not None, "a sample count of at least 1 always makes a chunk"
    _add_publish_tasks(tasks, settings, files, chain)


def _add_render_tasks(tasks: TaskFactory, settings: ProgressiveSettings, files: _Paths, start: int, end: int,
                      parents: list[ObjectId], *, priority: int) -> list[ObjectId]:
    bs = settings.blender
    size = frame_chunk_size(bs.chunk_size * settings.sample_cap, len(bs.frames), end - start + 1)
    return [
        tasks.add(f"render-s_{start}-{end}-f_{frame_ranges.merge_frame_range(chunk)}", "blender-render", [
            commands.blender_render_progressive(
                blender_cmd=bs.blender_cmd, filepath=bs.filepath, format=bs.format,
                render_output=files.render(start, end),
                frames=frame_ranges.merge_frame_range(chunk, blender_style=True),
                cycles_num_chunks=settings.sample_count, cycles_chunk_start=start, cycles_chunk_end=end),
        ], parents=parents, priority=priority)
        for chunk in frame_ranges.iter_frame_chunks(bs.frames, size)
    ]


def _add_previews(tasks: TaskFactory, settings: ProgressiveSettings, files: _Paths, exr_glob: str,
                  image_parents: list[ObjectId], previous_video: ObjectId | None, do_render_video: bool,
                  priority: int) -> tuple[ObjectId, ObjectId | None]:
    bs = settings.blender
    images = tasks.add("create-preview-images", "blender-render", [
        commands.exr_sequence_to_jpeg(blender_cmd=bs.blender_cmd, filepath=bs.filepath, exr_glob=exr_glob,
                                      output_pattern=PREVIEW_PATTERN),
    ], parents=image_parents, priority=priority)
    if not do_render_video:
        return images, None
    video_parents = [previous_video, images] if previous_video else [images]
    video = tasks.add("create-preview-video", "video-encoding", [
        commands.create_video(input_files=paths.join(files.intermediate, "preview-*.jpg"),
                              output_file=files.preview_video(), fps=bs.fps),
    ], parents=video_parents, priority=FOLLOW_UP_PRIORITY)
    return images, video


def _add_first_previews(tasks: TaskFactory, settings: ProgressiveSettings, files: _Paths, start: int, end: int,
                        render_tasks: list[ObjectId], do_render_video: bool) -> _Chain:
    images, video = _add_previews(tasks, settings, files, files.render_glob(start, end), render_tasks, None,
                                  do_render_video, priority=FOLLOW_UP_PRIORITY)
    return _Chain(merge_parents=render_tasks, merge_output=files.render(start, end), images=images, video=video)


def _add_merge_and_previews(tasks: TaskFactory, settings: ProgressiveSettings, files: _Paths, chain: _Chain,
                            start: int, end: int, render_tasks: list[ObjectId], do_render_video: bool) -> _Chain:
    bs = settings.blender
    first, last = bs.frames[0], bs.frames[-1]
    merge = tasks.add(f"merge-to-s_{end}-f_{first}-{last}", "exr-merge", [
        commands.merge_progressive_render_sequence(
            input1=blender.frame_file(chain.merge_output, first, ".exr"),
            input2=blender.frame_file(files.render(start, end), first, ".exr"),
            output=files.merge(end), weight1=start - 1, weight2=end - start + 1,
            blender_cmd=bs.blender_cmd, frame_start=first, frame_end=last),
    ], parents=[*chain.merge_parents, *render_tasks], priority=FOLLOW_UP_PRIORITY)
    images, video = _add_previews(tasks, settings, files, files.merge_glob(end), [chain.images, merge],
                                  chain.video, do_render_video, priority=FOLLOW_UP_PRIORITY)
    return _Chain(merge_parents=[merge], merge_output=files.merge(end), images=images, video=video)


def _add_publish_tasks(tasks: TaskFactory, settings: ProgressiveSettings, files: _Paths, chain: _Chain) -> None:
    bs = settings.blender
    output_dir = paths.parent(bs.render_output)
    moow = tasks.add("move-outdir-out-of-way", "file-management", [
        commands.move_out_of_way(src=output_dir),
    ], parents=chain.merge_parents, priority=FOLLOW_UP_PRIORITY)
    final_merge = files.merge(settings.sample_count)
    tasks.add("publish-exr-to-output", "file-management", [
        commands.copy_file(src=blender.frame_file(final_merge, frame, ".exr"),
                           dest=blender.frame_file(bs.render_output, frame, ".exr"))
        for frame in bs.frames
    ], parents=[moow], priority=FOLLOW_UP_PRIORITY)
    preview = paths.join(files.intermediate, PREVIEW_PATTERN)
    tasks.add("publish-jpeg-to-output", "file-management", [
        commands.copy_file(src=blender.frame_file(preview, frame, ".jpg"),
                           dest=blender.frame_file(bs.render_output, frame, ".jpg"))
        for frame in bs.frames
    ], parents=[chain.images, moow], priority=FOLLOW_UP_PRIORITY)
    if chain.video:
        tasks.add("publish-video-to-output", "file-management", [
            commands.copy_file(src=files.preview_video(), dest=paths.join(output_dir, "preview.mkv")),
        ], parents=[chain.video, moow], priority=FOLLOW_UP_PRIORITY)
