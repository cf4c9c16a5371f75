"""Frame-range strings such as ``"1-10,20,30-35"``: the one parser that the client and the server's
job compilers share, plus writing frames back and cutting chunks (reference §4.1).

Syntax: comma-separated items, each a frame ``N`` or an inclusive range
``N-M`` (Blender's ``N..M`` is accepted too); spaces around numbers are
ignored. Frames are whole numbers from 0 to :data:`MAX_FRAME_NUMBER`.
Overlapping items count once (``"1-3,2"`` is three frames).

Why a module of its own, outside ``flamenco.client`` and
``flamenco.job_compilers``: the client installs without the server's
dependencies, and the job compilers' package imports ``bson``. It uses the
standard library only.

A range is checked and counted as a handful of ``(start, end)`` runs before a
single frame is listed, so ``"1-1000000000"`` is refused at once instead of
filling the memory of whoever parses it.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Iterator, Sequence

# Most frames one job may have. A job gets a task per chunk of frames, and the
# server lists every frame while compiling it; a typo such as "1-10000000"
# must be an error, not an outage. Blender's own limit (MAX_FRAME_NUMBER) is
# about this many frames, so no real shot is refused.
MAX_FRAME_COUNT = 1_000_000
# Blender's MAXFRAME: it cannot render a later frame.
MAX_FRAME_NUMBER = 1_048_574
# One item: "N", "N-M" or "N..M", spaces allowed around the parts.
_ITEM = re.compile(r"^\s*(\d+)\s*(?:(?:-|\.\.)\s*(\d+)\s*)?$")
# Longer numbers are refused unread; shorter ones are counted first, so that
# "1-1000000000" is reported as too many frames.
_MAX_DIGITS = 18
# Quoted input is cut to this many characters in messages (the input may be megabytes).
_QUOTE_LENGTH = 40


class FrameRangeError(ValueError):
    """A frame range that cannot be used; the message says what is wrong."""


@dataclasses.dataclass(frozen=True)
class FrameRange:
    """A parsed frame range: sorted, disjoint, non-adjacent inclusive ``(start, end)`` runs."""

    runs: tuple[tuple[int, int], ...]

    @property
    def count(self) -> int:
        """How many frames, computed from the runs (nothing is listed)."""
        return sum(end - start + 1 for start, end in self.runs)

    @property
    def first(self) -> int:
        return self.runs[0][0]

    @property
    def last(self) -> int:
        return self.runs[-1][1]

    def frames(self) -> list[int]:
        """Every frame in order; at most :data:`MAX_FRAME_COUNT` of them, as parsing made sure."""
        return [frame for start, end in self.runs for frame in range(start, end + 1)]


def parse_frame_range(text: object) -> FrameRange:
    """The frames of ``text``, or :class:`FrameRangeError` saying what is wrong with it.

    Unlike Flamenco 2, duplicates are dropped (``"1-3,2"`` renders frame 2
    once); reversed ranges, garbage and more than :data:`MAX_FRAME_COUNT`
    frames are refused.
    """
    if not isinstance(text, str) or not text.strip():
        raise FrameRangeError("must be a non-empty frame range such as '1-10,20'")
    runs = _merge_runs(sorted(_parse_item(item) for item in text.split(",")))
    frame_range = FrameRange(runs)
    if frame_range.count > MAX_FRAME_COUNT:
        raise FrameRangeError(f"{_quote(text)} has {frame_range.count} frames; a job may have at most "
                              f"{MAX_FRAME_COUNT}")
    if frame_range.last > MAX_FRAME_NUMBER:
        raise _past_last_frame(str(frame_range.last))
    return frame_range


def normalise_frame_range(text: str) -> str:
    """``text`` checked and without spaces: what clients send and the server stores."""
    parse_frame_range(text)
    return re.sub(r"\s+", "", text)


def _quote(text: str) -> str:
    stripped = text.strip()
    if len(stripped) > _QUOTE_LENGTH:
        stripped = stripped[:_QUOTE_LENGTH - 3] + "..."
    return repr(stripped)


def _parse_item(item: str) -> tuple[int, int]:
    match = _ITEM.match(item)
    if match is None:
        raise FrameRangeError(f"{_quote(item)} is not a frame number or a range like '1-10'")
    start = _frame_number(match.group(1))
    end = _frame_number(match.group(2)) if match.group(2) is not None else start
    if end < start:
        raise FrameRangeError(f"range {_quote(item)} ends before it starts")
    return start, end


def _frame_number(digits: str) -> int:
    # Absurdly long numbers are refused before int() converts them (Python
    # itself refuses more than 4300 digits, with a ValueError of its own).
    if len(digits) > _MAX_DIGITS:
        raise _past_last_frame(digits)
    return int(digits)


def _past_last_frame(frame: str) -> FrameRangeError:
    return FrameRangeError(f"frame {_quote(frame)} is past {MAX_FRAME_NUMBER}, the last frame Blender renders")


def _merge_runs(sorted_runs: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Join overlapping and adjacent runs of a sorted list."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted_runs:
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def merge_frame_range(frames: Sequence[int], blender_style: bool = False) -> str:
    """Compact string of sorted ``frames``: ``[1,3,4,5,8]`` -> ``'1,3-5,8'`` (``'1,3..5,8'`` Blender style).

    Two consecutive frames are written ``'a,b'`` as Flamenco 2 did, which
    keeps task names identical to its.
    """
    if len(frames) < 2:
        return str(frames[0]) if frames else ""
    separator = ".." if blender_style else "-"
    if frames[-1] - frames[0] == len(frames) - 1:  # contiguous: the common case, made fast
        return _format_run(frames[0], frames[-1], separator)
    parts: list[str] = []
    start = prev = frames[0]
    for frame in frames[1:]:
        if frame == prev + 1:
            prev = frame
            continue
        parts.append(_format_run(start, prev, separator))
        start = prev = frame
    parts.append(_format_run(start, prev, separator))
    return ",".join(parts)


def _format_run(start: int, end: int, separator: str) -> str:
    if start == end:
        return str(start)
    if end == start + 1:
        return f"{start},{end}"
    return f"{start}{separator}{end}"


def iter_frame_chunks(frames: Sequence[int], chunk_size: int) -> Iterator[Sequence[int]]:
    """Consecutive slices of ``chunk_size`` frames (the last may be shorter); chunks may span gaps."""
    for index in range(0, len(frames), chunk_size):
        yield frames[index:index + chunk_size]
