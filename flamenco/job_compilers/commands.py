"""Catalogue of the commands a task may contain (reference §4.2), as builders of ``{name, settings}``.

Each builder is named after the Worker command it produces and returns the
dict stored in ``task.commands``. Settings left at None are omitted: the
Worker treats a missing optional setting as unset. ``{blender}``,
``{ffmpeg}`` and the like are Manager variables, stored verbatim.
"""
from __future__ import annotations

from typing import Any, Callable

Command = dict[str, Any]

# Manager variables used as default executables (replaced per Worker platform).
BLENDER_VARIABLE = "{blender}"
FFMPEG_VARIABLE = "{ffmpeg}"

CATALOGUE: dict[str, Callable[..., Command]] = {}


def _register(builder: Callable[..., Command]) -> Callable[..., Command]:
    CATALOGUE[builder.__name__] = builder
    return builder


def _command(name: str, **settings: Any) -> Command:
    return {"name": name, "settings": {key: value for key, value in settings.items() if value is not None}}


@_register
def echo(*, message: str) -> Command:
    return _command("echo", message=message)


@_register
def sleep(*, time_in_seconds: float) -> Command:
    return _command("sleep", time_in_seconds=time_in_seconds)


@_register
def exec(*, cmd: str) -> Command:  # noqa: A001 - the Worker command is called "exec"
    return _command("exec", cmd=cmd)


@_register
def blender_render(*, blender_cmd: str, filepath: str, frames: str, render_output: str | None = None,
                   format: str | None = None) -> Command:  # noqa: A002 - Worker setting name
    # Built directly: one per render task, so it is the hot path of big jobs.
    settings = {"blender_cmd": blender_cmd, "filepath": filepath, "frames": frames}
    if format is not None:
        settings["format"] = format
    if render_output is not None:
        settings["render_output"] = render_output
    return {"name": "blender_render", "settings": settings}


@_register
def blender_render_progressive(*, blender_cmd: str, filepath: str, frames: str, render_output: str,
                               format: str | None, cycles_num_chunks: int, cycles_chunk_start: int,
                               cycles_chunk_end: int) -> Command:  # noqa: A002
    return _command("blender_render_progressive", blender_cmd=blender_cmd, filepath=filepath, format=format,
                    render_output=render_output, frames=frames, cycles_num_chunks=cycles_num_chunks,
                    cycles_chunk_start=cycles_chunk_start, cycles_chunk_end=cycles_chunk_end)


@_register
def blender_render_audio(*, blender_cmd: str, filepath: str, render_output: str, frame_start: int,
                         frame_end: int) -> Command:
    return _command("blender_render_audio", blender_cmd=blender_cmd, filepath=filepath,
                    render_output=render_output, frame_start=frame_start, frame_end=frame_end)


@_register
def exr_sequence_to_jpeg(*, blender_cmd: str, filepath: str, exr_glob: str, output_pattern: str) -> Command:
    return _command("exr_sequence_to_jpeg", blender_cmd=blender_cmd, filepath=filepath, exr_glob=exr_glob,
                    output_pattern=output_pattern)


@_register
def create_python_file(*, filepath: str, contents: str) -> Command:
    return _command("create_python_file", filepath=filepath, contents=contents)


@_register
def move_out_of_way(*, src: str) -> Command:
    return _command("move_out_of_way", src=src)


@_register
def remove_tree(*, path: str) -> Command:
    return _command("remove_tree", path=path)


@_register
def remove_file(*, path: str) -> Command:
    return _command("remove_file", path=path)


@_register
def move_to_final(*, src: str, dest: str) -> Command:
    return _command("move_to_final", src=src, dest=dest)


@_register
def copy_file(*, src: str, dest: str) -> Command:
    return _command("copy_file", src=src, dest=dest)


@_register
def move_with_counter(*, src: str, dest: str) -> Command:
    return _command("move_with_counter", src=src, dest=dest)


@_register
def merge_progressive_renders(*, input1: str, input2: str, output: str, weight1: int, weight2: int,
                              blender_cmd: str = BLENDER_VARIABLE) -> Command:
    return _command("merge_progressive_renders", input1=input1, input2=input2, output=output,
                    weight1=weight1, weight2=weight2, blender_cmd=blender_cmd)


@_register
def merge_progressive_render_sequence(*, input1: str, input2: str, output: str, weight1: int, weight2: int,
                                      blender_cmd: str = BLENDER_VARIABLE, frame_start: int = 1,
                                      frame_end: int = 1) -> Command:
    return _command("merge_progressive_render_sequence", input1=input1, input2=input2, output=output,
                    weight1=weight1, weight2=weight2, blender_cmd=blender_cmd,
                    frame_start=frame_start, frame_end=frame_end)


@_register
def create_video(*, input_files: str, output_file: str, fps: float,
                 ffmpeg_cmd: str = FFMPEG_VARIABLE) -> Command:
    return _command("create_video", input_files=input_files, output_file=output_file, fps=fps,
                    ffmpeg_cmd=ffmpeg_cmd)


@_register
def concatenate_videos(*, input_files: str, output_file: str, ffmpeg_cmd: str = FFMPEG_VARIABLE,
                       counter_in_output_name: bool = False) -> Command:
    return _command("concatenate_videos", input_files=input_files, output_file=output_file,
                    ffmpeg_cmd=ffmpeg_cmd, counter_in_output_name=counter_in_output_name)


@_register
def mux_audio(*, audio_file: str, video_file: str, output_file: str,
              ffmpeg_cmd: str = FFMPEG_VARIABLE) -> Command:
    return _command("mux_audio", audio_file=audio_file, video_file=video_file, output_file=output_file,
                    ffmpeg_cmd=ffmpeg_cmd)


@_register
def encode_audio(*, input_file: str, codec: str, bitrate: str, output_file: str,
                 ffmpeg_cmd: str = FFMPEG_VARIABLE) -> Command:
    return _command("encode_audio", input_file=input_file, codec=codec, bitrate=bitrate,
                    output_file=output_file, ffmpeg_cmd=ffmpeg_cmd)
