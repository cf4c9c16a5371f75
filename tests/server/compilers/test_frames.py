"""Frame-range syntax: parse, merge and chunk (reference §4.1)."""
from __future__ import annotations

import pytest

from flamenco.job_compilers.frames import (MAX_FRAME_COUNT, FrameRangeError, iter_frame_chunks,
                                           merge_frame_range, parse_frame_range)


@pytest.mark.parametrize("text,frames", [
    ("1,3-5,8", [1, 3, 4, 5, 8]),
    ("1-10,20,30-35", [*range(1, 11), 20, *range(30, 36)]),
    (" 4 - 6 , 1 ", [1, 4, 5, 6]),
    ("7", [7]),
    ("0-2", [0, 1, 2]),
    ("1..3", [1, 2, 3]),
    ("1-3,2", [1, 2, 3]),      # duplicates dropped (Flamenco 2 rendered frame 2 twice)
])
def test_parse(text: str, frames: list[int]) -> None:
    assert parse_frame_range(text) == frames


@pytest.mark.parametrize("text,reason", [
    ("", "non-empty"),
    ("   ", "non-empty"),
    ("abc", "'abc' is not a frame number"),
    ("1-", "'1-' is not a frame number"),
    ("1,,2", "'' is not a frame number"),
    ("-5", "'-5' is not a frame number"),
    ("1.5", "'1.5' is not a frame number"),
    ("10-1", "range '10-1' ends before it starts"),
    (f"1-{MAX_FRAME_COUNT + 1}", f"more than {MAX_FRAME_COUNT} frames"),
])
def test_parse_rejects_garbage_with_reason(text: str, reason: str) -> None:
    with pytest.raises(FrameRangeError) as info:
        parse_frame_range(text)
    assert reason in str(info.value)


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(FrameRangeError):
        parse_frame_range(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("frames,plain,blender", [
    ([1, 3, 4, 5, 8], "1,3-5,8", "1,3..5,8"),
    ([1, 2], "1,2", "1,2"),
    ([5], "5", "5"),
    ([27, 28, 29, 30, 40, 41, 42, 43, 44], "27-30,40-44", "27..30,40..44"),
    ([], "", ""),
])
def test_merge(frames: list[int], plain: str, blender: str) -> None:
    assert merge_frame_range(frames) == plain
    assert merge_frame_range(frames, blender_style=True) == blender


def test_chunks_have_chunk_size_frames_except_the_last_and_span_gaps() -> None:
    frames = parse_frame_range("1-10,20,30-35")
    chunks = [merge_frame_range(chunk) for chunk in iter_frame_chunks(frames, 4)]
    assert chunks == ["1-4", "5-8", "9,10,20,30", "31-34", "35"]


def test_chunk_larger_than_range_gives_one_chunk() -> None:
    assert list(iter_frame_chunks([1, 2, 3], 100)) == [[1, 2, 3]]
