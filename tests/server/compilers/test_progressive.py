"""``blender-render-progressive`` (reference §4.6): sample chunks, frame chunks and the task graph."""
from __future__ import annotations

import pytest

from flamenco.job_compilers import blender_render_progressive, compile_job
from flamenco.job_compilers.sample_chunks import frame_chunk_size, sample_chunks
from tests.server.compilers.conftest import INTERMEDIATE, by_name, make_job, summary

SETTINGS = {"filepath": "/shots/shot.blend", "render_output": "/render/out/######", "frames": "1-5",
            "chunk_size": 3, "format": "OPEN_EXR", "blender_cmd": "{blender}", "cycles_sample_count": 30,
            "cycles_sample_cap": 30, "fps": 24}


@pytest.mark.parametrize("count,cap,uncapped,chunks", [
    (400, 100, 5, [(1, 10), (11, 49), (50, 133), (134, 222), (223, 311), (312, 400)]),
    (30, 3000, 3, [(1, 1), (2, 10), (11, 30)]),
    (10, 100, 4, [(1, 2), (3, 5), (6, 10)]),    # Flamenco 2 started with a bogus (1, 0) (§14.17)
])
def test_sample_chunks(count: int, cap: int, uncapped: int, chunks: list) -> None:
    assert list(sample_chunks(count, cap, uncapped)) == chunks


def test_sample_chunk_sizes_with_four_uncapped_chunks() -> None:
    sizes = [end - start + 1 for start, end in sample_chunks(400, 100, 4)]
    assert sizes == [10, 62, 82, 82, 82, 82]


@pytest.mark.parametrize("count,cap", [(1, 1), (7, 1), (19, 5), (1000, 37), (5000, 5000), (12345, 100)])
def test_sample_chunks_cover_all_samples_once_within_cap(count: int, cap: int) -> None:
    chunks = list(sample_chunks(count, cap))
    assert chunks[0][0] == 1 and chunks[-1][1] == count
    assert all(start <= end and end - start + 1 <= cap for start, end in chunks)
    assert all(nxt[0] == prev[1] + 1 for prev, nxt in zip(chunks, chunks[1:]))


@pytest.mark.parametrize("max_samples,frames,samples,size", [
    (100, 30, 10, 10), (100, 30, 40, 2), (100, 7, 20, 4), (100, 301, 10, 9), (10, 5, 100, 1),
])
def test_frame_chunk_size(max_samples: int, frames: int, samples: int, size: int) -> None:
    assert frame_chunk_size(max_samples, frames, samples) == size


def test_small_job_task_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flamenco 2's test_small_job: frames 1-5, chunk 3, 30 samples capped at 30, 3 uncapped chunks: 17 tasks."""
    monkeypatch.setattr(blender_render_progressive, "UNCAPPED_CHUNKS", 3)
    tasks = compile_job(make_job("blender-render-progressive", SETTINGS))
    assert len(tasks) == 17
    assert summary(tasks) == [
        ("destroy-preexisting-intermediate", "file-management", 50, []),
        ("render-s_1-1-f_1-5", "blender-render", 0, ["destroy-preexisting-intermediate"]),
        ("create-preview-images", "blender-render", 1, ["render-s_1-1-f_1-5"]),
        ("create-preview-video", "video-encoding", 1, ["create-preview-images"]),
        ("render-s_2-10-f_1-5", "blender-render", -10, ["destroy-preexisting-intermediate"]),
        ("merge-to-s_10-f_1-5", "exr-merge", 1, ["render-s_1-1-f_1-5", "render-s_2-10-f_1-5"]),
        ("create-preview-images", "blender-render", 1, ["create-preview-images", "merge-to-s_10-f_1-5"]),
        ("create-preview-video", "video-encoding", 1, ["create-preview-video", "create-preview-images"]),
        ("render-s_11-30-f_1-3", "blender-render", -20, ["destroy-preexisting-intermediate"]),
        ("render-s_11-30-f_4,5", "blender-render", -20, ["destroy-preexisting-intermediate"]),
        ("merge-to-s_30-f_1-5", "exr-merge", 1,
         ["merge-to-s_10-f_1-5", "render-s_11-30-f_1-3", "render-s_11-30-f_4,5"]),
        ("create-preview-images", "blender-render", 1, ["create-preview-images", "merge-to-s_30-f_1-5"]),
        ("create-preview-video", "video-encoding", 1, ["create-preview-video", "create-preview-images"]),
        ("move-outdir-out-of-way", "file-management", 1, ["merge-to-s_30-f_1-5"]),
        ("publish-exr-to-output", "file-management", 1, ["move-outdir-out-of-way"]),
        ("publish-jpeg-to-output", "file-management", 1, ["create-preview-images", "move-outdir-out-of-way"]),
        ("publish-video-to-output", "file-management", 1, ["create-preview-video", "move-outdir-out-of-way"]),
    ]


def test_commands_of_progressive_tasks() -> None:
    tasks = compile_job(make_job("blender-render-progressive", SETTINGS))
    named = by_name(tasks)
    assert named["destroy-preexisting-intermediate"]["commands"] == [
        {"name": "remove_tree", "settings": {"path": INTERMEDIATE}}]
    assert named["render-s_2-5-f_1-5"]["commands"] == [{"name": "blender_render_progressive", "settings": {
        "blender_cmd": "{blender}", "filepath": "/shots/shot.blend", "format": "OPEN_EXR",
        "render_output": f"{INTERMEDIATE}/render-smpl-0002-0005-######", "frames": "1..5",
        "cycles_num_chunks": 30, "cycles_chunk_start": 2, "cycles_chunk_end": 5}}]
    assert tasks[2]["commands"] == [{"name": "exr_sequence_to_jpeg", "settings": {
        "blender_cmd": "{blender}", "filepath": "/shots/shot.blend",
        "exr_glob": f"{INTERMEDIATE}/render-smpl-0001-0001-*.exr", "output_pattern": "preview-######"}}]
    assert named["merge-to-s_5-f_1-5"]["commands"] == [{"name": "merge_progressive_render_sequence", "settings": {
        "input1": f"{INTERMEDIATE}/render-smpl-0001-0001-000001.exr",
        "input2": f"{INTERMEDIATE}/render-smpl-0002-0005-000001.exr",
        "output": f"{INTERMEDIATE}/merge-smpl-0005-######", "weight1": 1, "weight2": 4,
        "blender_cmd": "{blender}", "frame_start": 1, "frame_end": 5}}]
    assert named["merge-to-s_16-f_1-5"]["commands"][0]["settings"]["input1"] == (
        f"{INTERMEDIATE}/merge-smpl-0005-000001.exr")
    assert named["move-outdir-out-of-way"]["commands"] == [
        {"name": "move_out_of_way", "settings": {"src": "/render/out"}}]
    publish_exr = named["publish-exr-to-output"]["commands"]
    assert len(publish_exr) == 5
    assert publish_exr[0] == {"name": "copy_file", "settings": {
        "src": f"{INTERMEDIATE}/merge-smpl-0030-000001.exr", "dest": "/render/out/000001.exr"}}
    assert named["publish-jpeg-to-output"]["commands"][4] == {"name": "copy_file", "settings": {
        "src": f"{INTERMEDIATE}/preview-000005.jpg", "dest": "/render/out/000005.jpg"}}
    assert named["publish-video-to-output"]["commands"] == [{"name": "copy_file", "settings": {
        "src": f"{INTERMEDIATE}/preview.mkv", "dest": "/render/out/preview.mkv"}}]


def test_single_frame_has_no_preview_video() -> None:
    tasks = compile_job(make_job("blender-render-progressive", {**SETTINGS, "frames": "7"}))
    names = [task["name"] for task in tasks]
    assert "create-preview-video" not in names and "publish-video-to-output" not in names
    assert names[-2:] == ["publish-exr-to-output", "publish-jpeg-to-output"]


def test_rna_overrides_hang_off_destroy_task() -> None:
    tasks = compile_job(make_job("blender-render-progressive", {**SETTINGS, "rna_overrides": ["x = 1"]}))
    rows = summary(tasks)
    assert rows[1] == ("rna-overrides", "file-management", 50, ["destroy-preexisting-intermediate"])
    assert rows[2][3] == ["rna-overrides"]


def test_percent_signs_in_paths_survive() -> None:
    tasks = compile_job(make_job("blender-render-progressive", {**SETTINGS, "render_output": "/render/100%/######"}))
    publish = by_name(tasks)["publish-exr-to-output"]["commands"][0]["settings"]
    assert publish["dest"] == "/render/100%/000001.exr"
    assert publish["src"].startswith("/render/100%__intermediate-2018-07-06_115233/merge-smpl-")
