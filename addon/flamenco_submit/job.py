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


def frame_range(start: int, end: int, step: int) -> str:
    """Flamenco's frame range for Blender's scene range, e.g. ``"1-12"`` or ``"1,3,5"``."""
    if end < start:
        raise SubmitError(f"the scene's frame range {start}-{end} ends before it starts")
    if step == 1:
        return f"{start}-{end}" if end > start else str(start)
    return ",".join(str(f) for f in range(start, end + 1, step))


def render_output(absolute_render_path: str) -> str:
    """The render output pattern; a bare directory gets a frame-number file name."""
    path = absolute_render_path.replace("\\", "/")
    if not path:
        raise SubmitError("the scene has no render output path (Output Properties > Output)")
    if path.endswith("/"):
        path += FRAME_PATTERN
    return path


def build_job(*, blend_path: str, name: str, frames: str, output: str, file_format: str,
              file_extension: str, fps: float, chunk_size: int, create_video: bool, priority: int,
              project_id: str, manager_id: str) -> dict:
    """The JSON body of ``POST /api/flamenco/jobs``.

    ``fps`` goes into the settings only with a video: the compiler creates
    its create-video task exactly when ``fps`` is set (reference §4.5).
    """
    if file_format in MOVIE_FORMATS:
        raise SubmitError(f"the scene renders to a movie ({file_format}); choose an image format such as PNG "
                          "and tick 'Create Video' to get a video")
    if create_video and file_format in NO_VIDEO_FORMATS:
        raise SubmitError(f"cannot make a video from {file_format} frames; use e.g. PNG")
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
    return {
        "name": name or os.path.splitext(os.path.basename(blend_path))[0],
        "job_type": JOB_TYPE,
        "project": project_id,
        "manager": manager_id,
        "priority": priority,
        "settings": settings,
    }
