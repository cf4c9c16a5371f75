"""Job documents as the server's job POST expects them (reference v2-server.md §2.2, §4.5).

Validation here repeats the server's rules that a user most often gets wrong,
so the CLI can name the bad option before a request is made; the server
remains the authority.
"""
from __future__ import annotations

import dataclasses
import posixpath
from pathlib import PurePath
from typing import Any, Mapping

from flamenco import frame_ranges, output_paths
from flamenco.client import defaults
from flamenco.client.errors import InvalidInput
from flamenco_protocol import requirements

# Blender's image formats (``scene.render.image_settings.file_format``) and the
# file extension Blender gives them; the compiler's create-video task globs for it.
FILE_EXTENSIONS: dict[str, str] = {
    "PNG": ".png",
    "JPEG": ".jpg",
    "JPEG2000": ".jp2",
    "BMP": ".bmp",
    "TARGA": ".tga",
    "TARGA_RAW": ".tga",
    "TIFF": ".tif",
    "WEBP": ".webp",
    "IRIS": ".rgb",
    "CINEON": ".cin",
    "DPX": ".dpx",
    "HDR": ".hdr",
    "OPEN_EXR": ".exr",
    "OPEN_EXR_MULTILAYER": ".exr",
}
# Formats the create-video step cannot encode (reference §4.5, step 3).
NO_VIDEO_FORMATS = frozenset({"OPEN_EXR", "OPEN_EXR_MULTILAYER"})
# A video needs at least this many frames (reference §4.5, step 3).
MIN_VIDEO_FRAMES = 2


@dataclasses.dataclass(frozen=True)
class BlenderRenderJob:
    """What a user asks for when rendering a .blend file on the farm."""

    filepath: str
    frames: str
    render_output: str
    chunk_size: int = defaults.CHUNK_SIZE
    image_format: str = defaults.IMAGE_FORMAT
    create_video: bool = False
    fps: float = defaults.FPS
    name: str = ""
    priority: int = defaults.PRIORITY
    start_paused: bool = False
    # Ids of jobs of the same project that must complete before this one runs.
    depends_on: tuple[str, ...] = ()
    on_dependency_failure: str = defaults.ON_DEPENDENCY_FAILURE
    # What a worker needs to run it (flamenco_protocol.requirements): {"tags", "min_cpu_cores", "min_ram_gb", ...}.
    requirements: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def validate(self) -> None:
        """Raise :class:`InvalidInput` for the first setting the server would reject."""
        check_dependencies(self.depends_on, self.on_dependency_failure)
        check_requirements(self.requirements)
        if not self.filepath.lower().endswith(".blend"):
            raise InvalidInput("filepath", f"{self.filepath!r} is not a .blend file")
        frame_count = check_frames(self.frames).count
        if self.chunk_size < 1:
            raise InvalidInput("chunk_size", f"must be at least 1, got {self.chunk_size}")
        if self.image_format not in FILE_EXTENSIONS:
            raise InvalidInput("format", f"{self.image_format!r} is not one of {', '.join(FILE_EXTENSIONS)}")
        check_render_output(self.render_output)
        if not defaults.PRIORITY_MIN <= self.priority <= defaults.PRIORITY_MAX:
            raise InvalidInput("priority",
                               f"must be {defaults.PRIORITY_MIN}..{defaults.PRIORITY_MAX}, got {self.priority}")
        if self.create_video:
            if self.image_format in NO_VIDEO_FORMATS:
                raise InvalidInput("video", f"cannot make a video from {self.image_format} frames; use e.g. PNG")
            if frame_count < MIN_VIDEO_FRAMES:
                raise InvalidInput("video", f"needs at least {MIN_VIDEO_FRAMES} frames, got {frame_count}")
            if self.fps <= 0:
                raise InvalidInput("fps", f"must be positive, got {self.fps}")

    def settings(self) -> dict:
        """The job's ``settings`` for the blender-render compiler.

        ``fps`` is sent only with a video: the compiler adds its create-video
        task exactly when ``fps`` is present (reference §4.5).
        """
        settings = {
            "filepath": self.filepath,
            "frames": frame_ranges.normalise_frame_range(self.frames),
            "chunk_size": self.chunk_size,
            "render_output": self.render_output,
            "format": self.image_format,
            "output_file_extension": FILE_EXTENSIONS[self.image_format],
            "images_or_video": "images",
        }
        if self.create_video:
            settings["fps"] = self.fps
        return settings

    def document(self, project_id: str, manager_id: str) -> dict:
        """The JSON body of ``POST /api/flamenco/jobs``."""
        self.validate()
        doc = {
            "name": self.name or PurePath(self.filepath).stem,
            "job_type": defaults.JOB_TYPE_BLENDER_RENDER,
            "project": project_id,
            "manager": manager_id,
            "priority": self.priority,
            "settings": self.settings(),
        }
        if self.start_paused:
            doc["start_paused"] = True
        if self.depends_on:
            doc["depends_on"] = list(self.depends_on)
            doc["on_dependency_failure"] = self.on_dependency_failure
        required = check_requirements(self.requirements)
        if required:
            doc["requirements"] = required
        return doc


def check_requirements(value: Mapping[str, Any]) -> dict[str, Any]:
    """The job's requirements as sent (only what constrains), or :class:`InvalidInput` naming the field."""
    try:
        return requirements.parse(value)
    except requirements.RequirementsError as ex:
        raise InvalidInput(ex.field, ex.reason) from None


def check_tag(tag: str) -> None:
    """One ``--require-tag``: :class:`InvalidInput` unless it is a valid tag."""
    try:
        requirements.check_tags([tag], "require_tag")
    except requirements.RequirementsError as ex:
        raise InvalidInput("require_tag", ex.reason) from None


def check_dependencies(depends_on: tuple[str, ...], on_dependency_failure: str) -> None:
    """Job ids are 24 hexadecimal characters (job names are not unique, so only ids are accepted)."""
    for job_id in depends_on:
        check_job_id(job_id)
    if len(set(depends_on)) > defaults.MAX_DEPENDENCIES:
        raise InvalidInput("after", f"a job may wait for at most {defaults.MAX_DEPENDENCIES} jobs")
    if on_dependency_failure not in defaults.DEPENDENCY_FAILURE_POLICIES:
        raise InvalidInput("on_dependency_failure",
                           f"must be one of {', '.join(defaults.DEPENDENCY_FAILURE_POLICIES)}")


def check_job_id(job_id: str) -> None:
    """:class:`InvalidInput` naming ``after`` unless ``job_id`` looks like a job id."""
    if len(job_id) != 24 or any(c not in "0123456789abcdef" for c in job_id):
        raise InvalidInput("after", f"{job_id!r} is not a job id (24 hexadecimal characters, as "
                                    "`flamenco jobs list` shows them)")


def check_frames(frames: str) -> frame_ranges.FrameRange:
    """The parsed frame range (counted, never listed), or :class:`InvalidInput` naming ``frames``."""
    try:
        return frame_ranges.parse_frame_range(frames)
    except frame_ranges.FrameRangeError as ex:
        raise InvalidInput("frames", str(ex)) from None


def check_render_output(render_output: str) -> None:
    """``render_output`` must be an absolute directory plus a file name pattern with ``#``,
    e.g. ``/render/shot/frames-######``, as the server's blender-render compiler requires."""
    if not render_output or not render_output.strip():
        raise InvalidInput("render_output", "must not be empty; use e.g. /render/shot/frames-######")
    normalised = render_output.replace("\\", "/")
    directory, filename = posixpath.split(normalised)
    if not filename:
        raise InvalidInput("render_output", f"{render_output!r} has no file name pattern after the last '/'; "
                                            "use e.g. /render/shot/frames-######")
    if not directory:
        raise InvalidInput("render_output", f"{render_output!r} has no directory; "
                                            "the final frames go into its parent directory")
    if not output_paths.is_absolute(render_output):
        raise InvalidInput("render_output", f"{render_output!r} is relative; give the absolute path as the "
                                            "workers see it, e.g. /shared/render/shot/frames-######")
    if not output_paths.has_frame_placeholder(render_output):
        raise InvalidInput("render_output", f"{render_output!r} has no '#' in its file name; Blender puts the "
                                            "frame number there, e.g. frames-###### for frames-000042.png")
