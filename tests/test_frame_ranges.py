"""Frame-range syntax (reference §4.1): the one parser the client and the server share."""
from __future__ import annotations

import time
import tracemalloc

import pytest

from flamenco import frame_ranges
from flamenco.client import BlenderRenderJob, InvalidInput
from flamenco.frame_ranges import (MAX_FRAME_COUNT, MAX_FRAME_NUMBER, FrameRangeError, iter_frame_chunks,
                                   merge_frame_range, normalise_frame_range, parse_frame_range)
from flamenco.job_compilers import JobSettingsError, validate_job
from tests.server.compilers.conftest import make_job


@pytest.mark.parametrize("text,frames", [
    ("1,3-5,8", [1, 3, 4, 5, 8]),
    ("1-10,20,30-35", [*range(1, 11), 20, *range(30, 36)]),
    (" 4 - 6 , 1 ", [1, 4, 5, 6]),
    ("7", [7]),
    ("0-2", [0, 1, 2]),
    ("1..3", [1, 2, 3]),       # Blender's style, as the compilers write it for workers
    ("1-3,2", [1, 2, 3]),      # duplicates dropped (Flamenco 2 rendered frame 2 twice)
    ("5-7,1-4", [1, 2, 3, 4, 5, 6, 7]),
    (f"1-{MAX_FRAME_COUNT}", list(range(1, MAX_FRAME_COUNT + 1))),
])
def test_parse(text: str, frames: list[int]) -> None:
    parsed = parse_frame_range(text)
    assert parsed.frames() == frames
    assert parsed.count == len(frames)
    assert (parsed.first, parsed.last) == (frames[0], frames[-1])


@pytest.mark.parametrize("text,reason", [
    ("", "non-empty"),
    ("   ", "non-empty"),
    ("abc", "'abc' is not a frame number"),
    ("1-", "'1-' is not a frame number"),
    ("1,,2", "'' is not a frame number"),
    ("-5", "'-5' is not a frame number"),
    ("1.5", "'1.5' is not a frame number"),
    ("1...3", "'1...3' is not a frame number"),
    ("10-1", "range '10-1' ends before it starts"),
    (f"0-{MAX_FRAME_COUNT}", f"has {MAX_FRAME_COUNT + 1} frames; a job may have at most {MAX_FRAME_COUNT}"),
    ("1-1000000000", f"has 1000000000 frames; a job may have at most {MAX_FRAME_COUNT}"),
    (f"{MAX_FRAME_NUMBER + 1}", f"is past {MAX_FRAME_NUMBER}, the last frame Blender renders"),
    ("9" * 5000, f"is past {MAX_FRAME_NUMBER}"),  # int() itself refuses more than 4300 digits
    ("x" * 1000, "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' is not a frame number"),
])
def test_parse_rejects_with_reason(text: str, reason: str) -> None:
    with pytest.raises(FrameRangeError) as info:
        parse_frame_range(text)
    assert reason in str(info.value)
    assert len(str(info.value)) < 200  # the input is quoted, not echoed whole


@pytest.mark.parametrize("value", [None, 12, ["1-3"]])
def test_parse_rejects_non_strings(value: object) -> None:
    with pytest.raises(FrameRangeError):
        parse_frame_range(value)


def test_a_huge_range_is_refused_without_listing_its_frames() -> None:
    """Issue 14 #2: the client listed all of 1-1000000000 and ran out of memory."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(FrameRangeError):
            parse_frame_range("1-1000000000,2000000-3000000")
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100_000
    assert time.monotonic() - started < 1


def test_normalise_removes_spaces_only() -> None:
    assert normalise_frame_range(" 1 - 3, 8 ") == "1-3,8"
    assert normalise_frame_range("1..3") == "1..3"
    with pytest.raises(FrameRangeError):
        normalise_frame_range("3-1")


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
    if frames:
        assert parse_frame_range(merge_frame_range(frames, blender_style=True)).frames() == frames


def test_chunks_have_chunk_size_frames_except_the_last_and_span_gaps() -> None:
    frames = parse_frame_range("1-10,20,30-35").frames()
    chunks = [merge_frame_range(chunk) for chunk in iter_frame_chunks(frames, 4)]
    assert chunks == ["1-4", "5-8", "9,10,20,30", "31-34", "35"]


def test_chunk_larger_than_range_gives_one_chunk() -> None:
    assert list(iter_frame_chunks([1, 2, 3], 100)) == [[1, 2, 3]]


# -- the client and the server agree -------------------------------------------

AGREEMENT_TABLE = [
    "1-12", "1..12", "1,3-5,8", " 2 - 4 ", "1-3,2", "0", f"1-{MAX_FRAME_COUNT}",
    "", "1-x", "12-1", "1,,3", "1...3", "-3", "1-1000000000", f"0-{MAX_FRAME_COUNT}", str(MAX_FRAME_NUMBER + 1),
]


def client_verdict(frames: str) -> tuple[str, int | str]:
    job = BlenderRenderJob(filepath="/shared/shot.blend", frames=frames, render_output="/render/shot/######")
    try:
        job.validate()
    except InvalidInput as ex:
        assert ex.field == "frames"
        return "refused", ex.reason
    return "accepted", parse_frame_range(job.settings()["frames"]).count


def server_verdict(frames: str) -> tuple[str, int | str]:
    settings = {"filepath": "/shared/shot.blend", "render_output": "/render/shot/######", "frames": frames,
                "chunk_size": 5}
    try:
        validate_job(make_job("blender-render", settings))
    except JobSettingsError as ex:
        assert ex.field == "settings.frames"
        return "refused", ex.reason
    return "accepted", len(frame_ranges.parse_frame_range(frames).frames())


@pytest.mark.parametrize("frames", AGREEMENT_TABLE)
def test_client_and_server_agree(frames: str) -> None:
    """Before, the client refused '1..12' that the server took, and had no cap at all."""
    assert client_verdict(frames) == server_verdict(frames)
