"""The blender-render job document built from the open file's scene (reference v2-server.md §4.5).

Plain values in, JSON-ready dict out; ``__init__`` reads them from ``bpy``.
"""
from __future__ import annotations

import os

from .server import SubmitError

JOB_TYPE = "blender-render"
# Formats Blender writes as one movie file; a blender-render job renders separate frames.
MOVIE_FORMATS = ("FFMPEG", "AVI_JPEG", "AVI_RAW")
# Formats the create-video step cannot read (reference §4.5, step 3).
NO_VIDEO_FORMATS = ("OPEN_EXR", "OPEN_EXR_MULTILAYER")
# Blender fills '#' with the frame number; this many digits when the output names a directory only.
FRAME_PATTERN = "######"
# Blender appends this many digits to an output file name without '#'; the
# farm's job needs the '#' spelled out to render the same file names.
BLENDER_DEFAULT_FRAME_PATTERN = "####"
# Most frames a job may have (flamenco.frame_ranges.MAX_FRAME_COUNT; the server refuses more).
MAX_FRAME_COUNT = 1_000_000
# Most jobs a job may wait for (flamenco.client.defaults.MAX_DEPENDENCIES), and what a
# failed or canceled one does to it (DEPENDENCY_FAILURE_POLICIES there).
MAX_DEPENDENCIES = 32
DEPENDENCY_FAILURE_POLICIES = ("fail", "wait")


def frame_range(start: int, end: int, step: int) -> str:
    """Flamenco's frame range for Blender's scene range, e.g. ``"1-12"`` or ``"1,3,5"``.

    The frames are counted before the range is written out.
    """
    if end < start:
        raise SubmitError(f"the scene's frame range {start}-{end} ends before it starts")
    frames = range(start, end + 1, step)
    if len(frames) > MAX_FRAME_COUNT:
        raise SubmitError(f"the scene renders {len(frames)} frames; a Flamenco job may have at most "
                          f"{MAX_FRAME_COUNT}")
    if step == 1:
        return f"{start}-{end}" if end > start else str(start)
    return ",".join(str(f) for f in frames)


def render_output(absolute_render_path: str) -> str:
    """The render output pattern, naming the files Blender itself would write.

    A bare directory gets a frame-number file name; a file name without '#'
    gets the four digits Blender appends to it.
    """
    path = absolute_render_path.replace("\\", "/")
    if not path:
        raise SubmitError("the scene has no render output path (Output Properties > Output)")
    if not os.path.isabs(absolute_render_path):
        raise SubmitError(f"the render output path {absolute_render_path!r} is relative to Blender's working "
                          "directory; make it absolute, or relative to the .blend file with '//'")
    if path.endswith("/"):
        return path + FRAME_PATTERN
    if "#" not in path.rsplit("/", 1)[-1]:
        return path + BLENDER_DEFAULT_FRAME_PATTERN
    return path


def check_image_format(file_format: str, create_video: bool) -> None:
    """The farm renders separate image files; a video is encoded from them afterwards."""
    if file_format in MOVIE_FORMATS:
        raise SubmitError(f"the scene renders to a movie ({file_format}); choose an image format such as PNG "
                          "and tick 'Create Video' to get a video")
    if create_video and file_format in NO_VIDEO_FORMATS:
        raise SubmitError(f"cannot make a video from {file_format} frames; use e.g. PNG")


def job_ids(text: str) -> list[str]:
    """The job ids in ``text`` (separated by commas or spaces), as ``flamenco jobs list`` shows them.

    Only ids: job names are not unique, so waiting for "render" could mean any of them.
    """
    ids = list(dict.fromkeys(text.replace(",", " ").split()))
    for job_id in ids:
        if len(job_id) != 24 or any(c not in "0123456789abcdef" for c in job_id):
            raise SubmitError(f"'After Jobs' holds {job_id!r}, which is not a job id (24 hexadecimal "
                              "characters, as the dashboard's job page URL and `flamenco jobs list` show them)")
    if len(ids) > MAX_DEPENDENCIES:
        raise SubmitError(f"a job may wait for at most {MAX_DEPENDENCIES} jobs, 'After Jobs' names {len(ids)}")
    return ids


def build_job(*, blend_path: str, name: str, frames: str, output: str, file_format: str,
              file_extension: str, fps: float, chunk_size: int, create_video: bool, priority: int,
              project_id: str, manager_id: str, depends_on: list[str] | None = None,
              on_dependency_failure: str = DEPENDENCY_FAILURE_POLICIES[0],
              requirements: dict | None = None) -> dict:
    """The JSON body of ``POST /api/flamenco/jobs`` from checked values (see :func:`check_image_format`).

    ``fps`` goes into the settings only with a video: the compiler creates
    its create-video task exactly when ``fps`` is set (reference §4.5).
    ``depends_on`` (see :func:`job_ids`) makes the job wait for those jobs;
    ``requirements`` (see :func:`.requirements.parse`) limits it to the workers that meet them.
    """
    settings = {
        "filepath": blend_path,
        "frames": frames,
        "chunk_size": chunk_size,
        "render_output": output,
        "format": file_format,
        "output_file_extension": file_extension,
        "images_or_video": "images",
    }
    if create_video:
        settings["fps"] = fps
    doc = {
        "name": name or os.path.splitext(os.path.basename(blend_path))[0],
        "job_type": JOB_TYPE,
        "project": project_id,
        "manager": manager_id,
        "priority": priority,
        "settings": settings,
    }
    if depends_on:
        doc.update(depends_on=depends_on, on_dependency_failure=on_dependency_failure)
    if requirements:
        doc["requirements"] = requirements
    return doc
