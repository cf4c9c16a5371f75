"""Frame ranges as Flamenco writes them: ``"1-12"``, ``"1,3-5,8"`` (reference v2-server.md §4.1).

The server parses them again when it compiles the job; checking here gives
the user a clear message before anything is sent.
"""
from __future__ import annotations

import re

from flamenco.client.errors import InvalidInput

# One comma-separated part: a frame number, or "start-end" (spaces tolerated).
_PART = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def parse_frame_range(text: str, field: str = "frames") -> list[int]:
    """The frames of ``text`` in order, or :class:`InvalidInput` naming ``field``."""
    if not text or not text.strip():
        raise InvalidInput(field, "must not be empty; use e.g. '1-12' or '1,3-5,8'")
    frames: list[int] = []
    for part in text.split(","):
        match = _PART.match(part)
        if not match:
            raise InvalidInput(field, f"{part.strip()!r} in {text!r} is not a frame number or a 'start-end' range")
        start = int(match.group(1))
        end = int(match.group(2)) if match.group(2) is not None else start
        if end < start:
            raise InvalidInput(field, f"range {part.strip()!r} ends before it starts")
        frames.extend(range(start, end + 1))
    return frames


def normalise_frame_range(text: str, field: str = "frames") -> str:
    """``text`` validated and without spaces, as the server stores it."""
    parse_frame_range(text, field)
    return re.sub(r"\s+", "", text)
