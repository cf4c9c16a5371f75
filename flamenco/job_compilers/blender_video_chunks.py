"""``blender-video-chunks`` (reference §4.7): render an edit as JPEG frame chunks, encode each chunk
as video, concatenate, optionally add the audio track, and move the result next to earlier versions."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

from bson import ObjectId

from flamenco import frame_ranges
from flamenco.job_compilers import blender, commands, paths
from flamenco.job_compilers import settings as checks
from flamenco.job_compilers.tasks import TaskFactory

NAME = "blender-video-chunks"
# The task that the rna-overrides task, and through it all renders, depend on.
RNA_OVERRIDES_PARENT = "move-out-of-way"

# Audio is mixed down losslessly by Blender, then encoded for the final file.
AUDIO_CODEC = "aac"
AUDIO_BITRATE = "192k"
# Date prefix of the final file; move_with_counter adds a counter after it.
FINAL_DATE_FORMAT = "%Y_%m_%d"


@dataclasses.dataclass
class VideoChunkSettings:
    blender: blender.BlenderSettings
    extension: str
    extract_audio: bool


def parse(job: Mapping[str, Any], *, compiling: bool) -> VideoChunkSettings:
    settings = blender.parse_blender_settings(job, compiling=compiling)
    raw = settings.raw
    checks.require_choice(raw, "images_or_video", ("video",))
    checks.require_number(raw, "fps")
    return VideoChunkSettings(
        blender=settings,
        extension=checks.require_string(raw, "output_file_extension"),
        extract_audio=checks.require_bool(raw, "extract_audio"),
    )


@dataclasses.dataclass
class _Paths:
    frames_dir: str
    extension: str

    def chunk_dir(self, chunk: Sequence[int]) -> str:
        return paths.join(self.frames_dir, f"chunk-{chunk[0]:05d}-{chunk[-1]:05d}")

    def chunk_video(self, chunk: Sequence[int]) -> str:
        return self.chunk_dir(chunk) + self.extension

    def in_frames(self, name: str) -> str:
        return paths.join(self.frames_dir, name)


def compile_tasks(job: Mapping[str, Any], settings: VideoChunkSettings, tasks: TaskFactory,
                  manager: Mapping[str, Any] | None) -> None:
    bs = settings.blender
    final_dir = paths.parent(bs.render_output)
    files = _Paths(frames_dir=paths.join(final_dir, "frames"), extension=settings.extension)
    moow = tasks.add(RNA_OVERRIDES_PARENT, "file-management", [commands.move_out_of_way(src=files.frames_dir)])
    rna_task = blender.add_rna_overrides_task(tasks, bs, parents=[moow])
    video_chunks = _add_chunk_tasks(tasks, bs, files, parent=rna_task or moow)
    audio = _add_audio_tasks(tasks, bs, files, parent=moow) if settings.extract_audio else None
    video_file = files.in_frames("video" + settings.extension)
    result = tasks.add("concatenate-videos", "video-encoding", [
        commands.concatenate_videos(input_files=files.in_frames("chunk-*" + settings.extension),
                                    output_file=video_file),
    ], parents=video_chunks)
    if audio is not None:
        audio_task, audio_file = audio
        video_file = files.in_frames("muxed" + settings.extension)
        result = tasks.add("mux-audio-video", "video-encoding", [
            commands.mux_audio(audio_file=audio_file, video_file=files.in_frames("video" + settings.extension),
                               output_file=video_file),
        ], parents=[audio_task, result])
    final_name = f"{blender.job_created(job).strftime(FINAL_DATE_FORMAT)}-{blender.blend_stem(bs.filepath or '')}"
    tasks.add("move-with-counter", "file-management", [
        commands.move_with_counter(src=video_file, dest=paths.join(final_dir, final_name + settings.extension)),
    ], parents=[result])


def _add_chunk_tasks(tasks: TaskFactory, bs: blender.BlenderSettings, files: _Paths,
                     parent: ObjectId) -> list[ObjectId]:
    """A render task and a video task per frame chunk; returns the video tasks."""
    video_tasks = []
    for chunk in frame_ranges.iter_frame_chunks(bs.frames, bs.chunk_size):
        merged = frame_ranges.merge_frame_range(chunk)
        render = tasks.add(f"frame-chunk-{merged}", "blender-render", [
            commands.blender_render(blender_cmd=bs.blender_cmd, filepath=bs.filepath, format="JPEG",
                                    render_output=paths.join(files.chunk_dir(chunk), "######.jpg"),
                                    frames=frame_ranges.merge_frame_range(chunk, blender_style=True)),
        ], parents=[parent])
        video_tasks.append(tasks.add(f"video-chunk-{merged}", "video-encoding", [
            commands.create_video(input_files=paths.join(files.chunk_dir(chunk), "*.jpg"),
                                  output_file=files.chunk_video(chunk), fps=bs.fps),
        ], parents=[render]))
    return video_tasks


def _add_audio_tasks(tasks: TaskFactory, bs: blender.BlenderSettings, files: _Paths,
                     parent: ObjectId) -> tuple[ObjectId, str]:
    """Mix the audio down with Blender, then encode it; returns the encode task and its output."""
    flac = files.in_frames("audio.flac")
    aac = files.in_frames("audio.aac")
    render = tasks.add("render-audio", "blender-render", [
        commands.blender_render_audio(blender_cmd=bs.blender_cmd, filepath=bs.filepath, render_output=flac,
                                      frame_start=bs.frames[0], frame_end=bs.frames[-1]),
    ], parents=[parent])
    encode = tasks.add("encode-audio", "video-encoding", [
        commands.encode_audio(input_file=flac, codec=AUDIO_CODEC, bitrate=AUDIO_BITRATE, output_file=aac),
    ], parents=[render])
    return encode, aac
