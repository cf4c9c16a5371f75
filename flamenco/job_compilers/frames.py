"""Flamenco frame-range strings: parse ``"1-10,20,30-35"``, merge lists back, cut chunks (reference §4.1).

Syntax: comma-separated items, each a frame ``N`` or an inclusive range
``N-M`` (Blender's ``N..M`` is accepted too); spaces around numbers are
ignored. Frames are non-negative integers.
"""
from __future__ import annotations

import re
from typing import Iterator, Sequence

# One item of a frame range: "N", "N-M" or "N..M", spaces allowed around parts.
_ITEM = re.compile(r"^\s*(\d+)\s*(?:(?:-|\.\.)\s*(\d+)\s*)?$")

# Refuse ranges that would build millions of tasks or eat the server's memory
# (a typo such as "1-10000000" must be an error, not an outage).
MAX_FRAME_COUNT = 1_000_000


class FrameRangeError(ValueError):
    """A frame range that cannot be parsed; the message says what is wrong."""


def parse_frame_range(frames: str) -> list[int]:
    """Sorted list of the frames in ``frames``.

    Unlike Flamenco 2, duplicates are dropped (``"1-3,2"`` renders frame 2
    once), reversed ranges and garbage raise :class:`FrameRangeError`.
    """
    if not isinstance(frames, str) or not frames.strip():
        raise FrameRangeError("must be a non-empty frame range such as '1-10,20'")
    result: set[int] = set()
    for item in frames.split(","):
        start, end = _parse_item(item)
        if len(result) + (end - start + 1) > MAX_FRAME_COUNT:
            raise FrameRangeError(f"more than {MAX_FRAME_COUNT} frames")
        result.update(range(start, end + 1))
    return sorted(result)


def _parse_item(item: str) -> tuple[int, int]:
    match = _ITEM.match(item)
    if match is None:
        raise FrameRangeError(f"{item.strip()!r} is not a frame number or a range like '1-10'")
    start = int(match.group(1))
    end = int(match.group(2)) if match.group(2) is not None else start
    if end < start:
        raise FrameRangeError(f"range {item.strip()!r} ends before it starts")
    return start, end


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
