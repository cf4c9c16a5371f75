"""The last-rendered image: the newest image a job produced, as a small JPEG for the dashboards.

Workers report the files they produce (``POST /output-produced``, Flamenco 2's
protocol; the paths are on this machine's filesystem, reference A.7.3). The
newest image of each job becomes a JPEG of at most 1920x1080 at quality 85,
what Flamenco 2 made with ImageMagick (``-quality 85 -resize 1920x1080>``),
here with Pillow. Decoding a 50 MB render takes a while, so it runs in an
executor thread, one conversion at a time: the event loop that answers
workers never waits for it.

Throttled per job: a report starts a wait of ``last_rendered_interval``
seconds; when it ends, the newest path reported meanwhile is converted. A
burst of reports (a hundred workers finishing together) costs one conversion
per job per interval.

EXR, which Pillow cannot read, goes through a short run of Blender (on PATH
as ``blender``: the program the farm renders with anyway, and it applies
Blender's own view transform, so the preview looks like the render in
Blender). OpenImageIO's wheel would do it in-process, but it is a large
dependency (OpenColorIO included) for a preview; without Blender an EXR is
skipped with one log line.

The previews wait in memory for the sync daemon, which uploads each job's
newest to the Server (:func:`upload_pending`); the Manager's own dashboard
shows the newest of all. Nothing here is durable: a restart forgets the
previews, the next render makes a new one.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import io
import logging
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bson import ObjectId
from PIL import Image

from flamenco_manager.upstream import Upstream, UpstreamError

if TYPE_CHECKING:
    from flamenco_manager.context import ManagerContext

log = logging.getLogger(__name__)

# Flamenco 2's preview: shrink to fit full HD (never enlarge), JPEG quality 85.
MAX_SIZE = (1920, 1080)
JPEG_QUALITY = 85
# Larger sources are refused before decoding: 100 megapixels is beyond a 12K
# frame (decoded RGB would take 300 MB), and a file above 1 GiB is no frame.
MAX_SOURCE_PIXELS = 100_000_000
MAX_SOURCE_BYTES = 1024 ** 3
# Files a preview is made of; others (videos, .blend files) are not images.
PILLOW_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".tga", ".webp"})
EXR_SUFFIX = ".exr"
# The program EXR files are converted with, and how long it may take.
BLENDER_PROGRAM = "blender"
BLENDER_TIMEOUT_SECONDS = 120
# Blender script: load the EXR and save it as an 8-bit image with the scene's view transform.
BLENDER_EXR_SCRIPT = """
import sys, bpy
source, target = sys.argv[sys.argv.index("--") + 1:]
scene = bpy.context.scene
scene.render.image_settings.file_format = "PNG"
scene.render.image_settings.color_depth = "8"
bpy.data.images.load(source).save_render(target, scene=scene)
"""
# Jobs whose preview waits for upload; beyond this the oldest waiting one is
# dropped (about 300 KB each), so a Server that is down cannot fill the memory.
MAX_PENDING_UPLOADS = 50
# After a failed upload, wait this long before trying again.
UPLOAD_RETRY_SECONDS = 30.0


class ConversionError(Exception):
    """The file cannot be made into a preview; the message says why."""


@dataclasses.dataclass(frozen=True)
class Preview:
    """A converted image: the job it belongs to (None when the worker had no task), the JPEG, its source."""

    job_id: ObjectId | None
    jpeg: bytes
    source: str
    worker: str
    at: dt.datetime


class LastRendered:
    """Per-job throttle of reports, the previews waiting for upload, and the newest preview.

    Reports and conversions run in the engine's loop; the sync daemon's thread
    takes uploads, so those are guarded by a lock.
    """

    def __init__(self) -> None:
        self.latest: Preview | None = None
        self._newest_path: dict[ObjectId | None, tuple[str, str]] = {}
        self._waiting: set[ObjectId | None] = set()
        self._running: set[asyncio.Task[None]] = set()
        self._one_at_a_time = asyncio.Lock()
        self._lock = threading.Lock()
        self._uploads: dict[ObjectId, Preview] = {}
        self._upload_after = 0.0

    def report(self, ctx: ManagerContext, job_id: ObjectId | None, paths: list[str], worker: str) -> bool:
        """Note the newest image of ``paths``; convert it once the job's wait is over. False: no image."""
        image = newest_image(paths)
        if image is None:
            return False
        self._newest_path[job_id] = (image, worker)
        if job_id not in self._waiting:
            self._waiting.add(job_id)
            loop = asyncio.get_running_loop()
            loop.call_later(ctx.config.last_rendered_interval, self._start, ctx, job_id)
        return True

    def _start(self, ctx: ManagerContext, job_id: ObjectId | None) -> None:
        task = asyncio.get_running_loop().create_task(self._convert_newest(ctx, job_id), name="last-rendered")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _convert_newest(self, ctx: ManagerContext, job_id: ObjectId | None) -> None:
        """Convert the job's newest reported image; a bad file is logged and skipped."""
        self._waiting.discard(job_id)
        path, worker = self._newest_path.pop(job_id)
        async with self._one_at_a_time:
            try:
                jpeg = await asyncio.get_running_loop().run_in_executor(None, to_jpeg, Path(path))
            except ConversionError as ex:
                log.warning("no preview of %s (from %s): %s", path, worker, ex)
                return
            except Exception:  # noqa: BLE001 - a preview must never take the manager down
                log.exception("no preview of %s (from %s): unexpected error", path, worker)
                return
        self.keep(Preview(job_id=job_id, jpeg=jpeg, source=path, worker=worker, at=ctx.now()))

    def keep(self, preview: Preview) -> None:
        """Show ``preview`` as the newest, and send it to the Server as its job's newest."""
        self.latest = preview
        if preview.job_id is None:
            return
        with self._lock:
            self._uploads.pop(preview.job_id, None)
            self._uploads[preview.job_id] = preview
            while len(self._uploads) > MAX_PENDING_UPLOADS:
                del self._uploads[next(iter(self._uploads))]

    def waiting(self) -> list[Preview]:
        """The previews waiting for upload, oldest first."""
        with self._lock:
            return list(self._uploads.values())

    def take_uploads(self) -> list[Preview]:
        """The previews waiting for upload (oldest first), now theirs to send; none while backing off."""
        with self._lock:
            if time.monotonic() < self._upload_after:
                return []
            previews, self._uploads = list(self._uploads.values()), {}
            return previews

    def upload_failed(self, previews: list[Preview]) -> None:
        """Keep ``previews`` for a later try, unless a newer one of the same job came meanwhile."""
        with self._lock:
            self._upload_after = time.monotonic() + UPLOAD_RETRY_SECONDS
            newer = self._uploads
            self._uploads = {p.job_id: p for p in previews if p.job_id is not None and p.job_id not in newer}
            self._uploads.update(newer)


def newest_image(paths: list[str]) -> str | None:
    """The last path that names an image file (workers list their outputs in the order made)."""
    for path in reversed(paths):
        if Path(path).suffix.lower() in PILLOW_SUFFIXES | {EXR_SUFFIX}:
            return path
    return None


def to_jpeg(path: Path) -> bytes:
    """The preview JPEG of the image at ``path``; ConversionError when it cannot be made."""
    try:
        size = path.stat().st_size
    except (OSError, ValueError) as ex:  # ValueError: a NUL byte in the path
        raise ConversionError(f"cannot read the file: {getattr(ex, 'strerror', None) or ex}") from None
    if size > MAX_SOURCE_BYTES:
        raise ConversionError(f"the file is too large ({size} bytes, at most {MAX_SOURCE_BYTES})")
    if path.suffix.lower() == EXR_SUFFIX:
        return _exr_to_jpeg(path)
    try:
        with Image.open(path) as image:
            return _shrunk_jpeg(image)
    except ConversionError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as ex:
        raise ConversionError(f"not a readable image: {ex}") from None


def _shrunk_jpeg(image: Image.Image) -> bytes:
    """Shrink to fit MAX_SIZE (decoding JPEGs at reduced size already), flatten, encode."""
    if image.width * image.height > MAX_SOURCE_PIXELS:
        raise ConversionError(f"the image is too large ({image.width}x{image.height}, "
                              f"at most {MAX_SOURCE_PIXELS} pixels)")
    image.draft("RGB", MAX_SIZE)
    image.thumbnail(MAX_SIZE)
    out = io.BytesIO()
    _as_rgb(image).save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def _as_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB: alpha over black (as Blender shows a transparent render), 16-bit grey scaled down."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flattened = Image.new("RGB", rgba.size)
        flattened.paste(rgba, mask=rgba.getchannel("A"))
        return flattened
    return image.convert("RGB")


def _exr_to_jpeg(path: Path) -> bytes:
    blender = shutil.which(BLENDER_PROGRAM)
    if blender is None:
        raise ConversionError(f"EXR previews need Blender, and there is no {BLENDER_PROGRAM!r} on PATH")
    with tempfile.TemporaryDirectory(prefix="flamenco-preview-") as tmp:
        target = Path(tmp) / "preview.png"
        try:
            result = subprocess.run(
                [blender, "-b", "--factory-startup", "--python-expr", BLENDER_EXR_SCRIPT, "--", str(path),
                 str(target)], capture_output=True, text=True, timeout=BLENDER_TIMEOUT_SECONDS, check=False)
        except subprocess.TimeoutExpired:
            raise ConversionError(f"Blender took longer than {BLENDER_TIMEOUT_SECONDS} s") from None
        if not target.exists():
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise ConversionError(f"Blender could not read it (exit {result.returncode}): {' / '.join(tail)}")
        with Image.open(target) as image:
            return _shrunk_jpeg(image)


def upload_pending(previews: LastRendered, upstream: Upstream) -> int:
    """Upload each job's newest preview to the Server; returns how many it accepted.

    A Server that refuses one (not this manager's job, or a Flamenco 2 Server
    without the endpoint) will refuse it again: it is dropped. A Server that
    cannot be reached gets them again after UPLOAD_RETRY_SECONDS.
    """
    pending = previews.take_uploads()
    accepted = 0
    for index, preview in enumerate(pending):
        try:
            if upstream.upload_last_rendered(str(preview.job_id), preview.jpeg):
                accepted += 1
            else:
                log.info("the Server refused the preview of job %s; dropped", preview.job_id)
        except UpstreamError:
            previews.upload_failed(pending[index:])
            raise
    return accepted
