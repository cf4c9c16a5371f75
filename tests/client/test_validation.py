"""Client-side checks and error messages: what the user reads before and after a request."""
from __future__ import annotations

import pytest

from flamenco.client import BlenderRenderJob, InvalidInput
from flamenco.client.api import choose
from flamenco.client.errors import flatten_issues, format_error
from flamenco.client.jobs import check_frames


@pytest.mark.parametrize("text, fragment", [
    ("", "must be a non-empty frame range"),
    ("1-x", "'1-x'"),
    ("5-1", "ends before it starts"),
    ("1,,3", "''"),
    ("1-1000000000", "has 1000000000 frames; a job may have at most 1000000"),
])
def test_bad_frame_ranges_name_the_culprit(text: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_frames(text)
    assert info.value.field == "frames"
    assert fragment in info.value.reason


def job(**kwargs) -> BlenderRenderJob:
    values = {"filepath": "/shared/shot.blend", "frames": "1-12", "render_output": "/render/shot/frames-######"}
    values.update(kwargs)
    return BlenderRenderJob(**values)


def test_settings_follow_the_blender_render_contract() -> None:
    plain = job(chunk_size=4, image_format="JPEG").settings()
    assert plain == {"filepath": "/shared/shot.blend", "frames": "1-12", "chunk_size": 4,
                     "render_output": "/render/shot/frames-######", "format": "JPEG",
                     "output_file_extension": ".jpg", "images_or_video": "images"}
    # fps is what makes the compiler add its create-video task.
    assert job(create_video=True, fps=30).settings()["fps"] == 30


def test_document_names_the_job_after_the_file() -> None:
    doc = job(priority=70, start_paused=True).document("a" * 24, "b" * 24)
    assert doc["name"] == "shot"
    assert doc["job_type"] == "blender-render"
    assert (doc["project"], doc["manager"], doc["priority"], doc["start_paused"]) == ("a" * 24, "b" * 24, 70, True)
    assert job(name="Final").document("a" * 24, "b" * 24)["name"] == "Final"


@pytest.mark.parametrize("kwargs, field, fragment", [
    ({"filepath": "/shared/shot.txt"}, "filepath", "not a .blend"),
    ({"frames": "a-b"}, "frames", "'a-b'"),
    ({"chunk_size": 0}, "chunk_size", "at least 1"),
    ({"image_format": "GIF"}, "format", "'GIF' is not one of"),
    ({"render_output": "/render/shot/"}, "render_output", "no file name pattern"),
    ({"render_output": "frames-####"}, "render_output", "no directory"),
    ({"render_output": "render/shot/frames-####"}, "render_output", "is relative"),
    ({"render_output": "./frames-####"}, "render_output", "is relative"),
    ({"render_output": "/render/shot/frames"}, "render_output", "no '#' in its file name"),
    ({"render_output": "/render/#/frames"}, "render_output", "no '#' in its file name"),
    ({"priority": 101}, "priority", "1..100"),
    ({"create_video": True, "image_format": "OPEN_EXR"}, "video", "cannot make a video from OPEN_EXR"),
    ({"create_video": True, "frames": "3"}, "video", "at least 2 frames"),
])
def test_invalid_jobs_are_rejected_before_sending(kwargs: dict, field: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as info:
        job(**kwargs).validate()
    assert info.value.field == field
    assert fragment in str(info.value)


@pytest.mark.parametrize("render_output", ["/render/shot/######", "C:\\render\\f-####", "{render}/shot/####",
                                           "\\\\farm\\render\\####"])
def test_absolute_outputs_of_any_worker_platform_pass(render_output: str) -> None:
    job(render_output=render_output).validate()


def test_an_issue_the_message_already_says_is_not_repeated() -> None:
    """Issue 14 #5: the CLI printed the server's reason twice."""
    reason = "cannot go from 'completed' to 'cancel-requested': not allowed"
    assert format_error(409, f"status: {reason}", {"status": reason}) == f"HTTP 409: status: {reason}"
    assert format_error(422, "invalid job: settings.frames: bad", {"settings.frames": "bad", "name": "long"}) \
        == "HTTP 422: invalid job: settings.frames: bad\n  name: long"


def test_nested_eve_issues_become_field_paths() -> None:
    issues = {"settings": {"frames": "not a frame range", "chunk_size": ["must be integer", "min 1"]},
              "project": "required field"}
    assert flatten_issues(issues) == {"settings.frames": "not a frame range",
                                      "settings.chunk_size": "must be integer; min 1",
                                      "project": "required field"}
    assert format_error(422, "invalid job", flatten_issues(issues)).splitlines() == [
        "HTTP 422: invalid job", "  settings.frames: not a frame range",
        "  settings.chunk_size: must be integer; min 1", "  project: required field"]


def test_choose_picks_the_only_candidate_or_lists_the_choices() -> None:
    one = [{"_id": "1" * 24, "name": "Shot", "url": "shot"}]
    two = one + [{"_id": "2" * 24, "name": "Promo", "url": "promo"}]
    assert choose("project", None, one, ("_id", "url", "name")) is one[0]
    assert choose("project", "promo", two, ("_id", "url", "name")) is two[1]
    assert choose("project", "2" * 24, two, ("_id", "url", "name")) is two[1]
    with pytest.raises(InvalidInput, match=r"several projects.*--project.*Shot \(1+\), Promo \(2+\)"):
        choose("project", None, two, ("_id", "url", "name"))
    with pytest.raises(InvalidInput, match=r"no project 'nope'.*choose one of: Shot"):
        choose("project", "nope", two, ("_id", "url", "name"))
    with pytest.raises(InvalidInput, match="you have no managers"):
        choose("manager", None, [], ("_id", "name"))
