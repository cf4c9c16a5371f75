"""Understanding Blender's console output while it renders (reference B.8.3).

Pure functions and a small state machine, without I/O, so that they are
tested on real Blender lines without running Blender:

* :func:`parse_render_line` reads ``Fra:N Mem:... | Time:... | ... | status``;
* :func:`count_frames` turns a ``--render-frame`` argument into a frame count;
* :class:`RenderProgress` turns a stream of lines into a percentage of the
  command's frames (Flamenco 2 never computed one; D.2.1);
* :func:`fatal_error` recognises the ``Error:`` lines after which Blender may
  still exit 0 although nothing useful was rendered.
"""
from __future__ import annotations

import dataclasses
import re

RENDER_LINE = re.compile(r"^Fra:(?P<fra>\d+) Mem:(?P<mem>\S+) \((?:.*?)Peak (?P<peakmem>[^)\s]+)\)")
SAMPLES = re.compile(r"(?:Sample (?P<a>\d+)/(?P<b>\d+))|(?:Rendering (?P<c>\d+) / (?P<d>\d+) samples)")
SAVED = re.compile(r"^Saved: '(?P<path>.*)'")
MISSING_FILE_WARNING = re.compile(r"Warning: Unable to open|Warning: Path '.*' not found")
DURATION = re.compile(r"^(?:(?P<h>\d+):)?(?P<m>\d+):(?P<s>\d+(?:\.\d+)?)$")

FATAL_ERRORS = (
    "Error: Cannot read file",  # a missing or unreadable .blend: Blender exits 0 without rendering
    "Error: File format is not supported",
    "Error: Python:",  # a failing --python-expr: Blender renders without the requested changes
)
"""Line starts after which the render is worthless even if Blender exits 0."""

MAX_RUNNING_PERCENTAGE = 99
"""A running render never reports 100: that is for the command having finished."""


@dataclasses.dataclass(frozen=True)
class RenderLine:
    """One parsed ``Fra:`` line."""

    fra: int
    mem: str
    peakmem: str
    time_sec: float | None
    remaining_sec: float | None
    status: str

    def activity(self) -> str:
        """The activity text Flamenco 2 meant to report."""
        parts = [f"Fra:{self.fra} Mem:{self.mem}"]
        if self.time_sec is not None:
            parts.append(f"Time:{self.time_sec:g}s")
        if self.remaining_sec is not None:
            parts.append(f"Remaining:{self.remaining_sec:g}s")
        if self.status:
            parts.append(self.status)
        return " | ".join(parts)


def duration_seconds(text: str) -> float | None:
    """``[h:]mm:ss.hh`` in seconds, or None when it is not a duration."""
    match = DURATION.match(text.strip())
    if not match:
        return None
    return int(match["h"] or 0) * 3600 + int(match["m"]) * 60 + float(match["s"])


def parse_render_line(line: str) -> RenderLine | None:
    """Parse a ``Fra:`` line; None for any other line."""
    match = RENDER_LINE.match(line)
    if not match:
        return None
    time_sec = remaining_sec = None
    status: list[str] = []
    for segment in line.split(" | ")[1:]:
        if segment.startswith("Time:"):
            time_sec = duration_seconds(segment[len("Time:"):])
        elif segment.startswith("Remaining:"):
            remaining_sec = duration_seconds(segment[len("Remaining:"):])
        elif not segment.startswith("Mem:"):  # Cycles' device memory repeats what Fra: says
            status.append(segment)
    return RenderLine(int(match["fra"]), match["mem"], match["peakmem"], time_sec, remaining_sec, " | ".join(status))


def count_frames(frames: str | None) -> int | None:
    """How many frames ``--render-frame <frames>`` renders, e.g. ``"1..3,7"`` is 4.

    None when unknown: no frame argument, or a form such as negative
    (end-relative) frames that cannot be counted without the .blend file.
    """
    if not frames:
        return None
    total = 0
    for part in frames.split(","):
        start, sep, end = part.strip().partition("..")
        end = end if sep else start
        if not (start.isdigit() and end.isdigit()) or int(end) < int(start):
            return None
        total += int(end) - int(start) + 1
    return total


def sample_fraction(line: str) -> float | None:
    """The fraction of samples done on this line (Cycles' or EEVEE's wording)."""
    match = SAMPLES.search(line)
    if not match:
        return None
    done, total = (match["a"], match["b"]) if match["a"] is not None else (match["c"], match["d"])
    return int(done) / int(total) if int(total) else None


def fatal_error(line: str) -> bool:
    """True for an ``Error:`` line that makes the render worthless."""
    return line.startswith(FATAL_ERRORS)


@dataclasses.dataclass
class RenderProgress:
    """Percentage of a command's frames rendered, from Blender's output lines.

    A frame counts as done when Blender saves it or moves on to another frame
    (sequencer-only renders print no ``Fra:`` lines at all); within a frame, the sample count gives the fraction. The value never
    goes down (several view layers restart the sample count) and stays below
    100 until the command finishes.
    """

    total_frames: int | None
    frames_done: int = 0
    current_frame: int | None = None
    fraction: float = 0.0
    reported: int = 0

    def feed(self, line: str, parsed: RenderLine | None) -> int | None:
        """Take one output line; return a new, higher percentage or None."""
        if parsed is not None:
            if self.current_frame is not None and parsed.fra != self.current_frame:
                self._frame_done()
            self.current_frame = parsed.fra
            fraction = sample_fraction(line)
            if fraction is not None:
                self.fraction = max(self.fraction, fraction)
        elif SAVED.match(line):
            self._frame_done()
            self.current_frame = None
        return self._percentage_if_higher()

    def _frame_done(self) -> None:
        self.frames_done += 1
        self.fraction = 0.0

    def _percentage_if_higher(self) -> int | None:
        if not self.total_frames:
            return None
        done = (self.frames_done + self.fraction) / self.total_frames
        percentage = min(int(done * 100), MAX_RUNNING_PERCENTAGE)
        if percentage <= self.reported:
            return None
        self.reported = percentage
        return percentage
