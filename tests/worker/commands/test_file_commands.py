"""File commands on real temporary directories, including the refusals."""
from __future__ import annotations

import asyncio
import datetime
import os
from pathlib import Path

import pytest

from flamenco_worker.commands import CommandFailed, CommandSettingsError

from .conftest import RecordingContext, files_in

STAMP = datetime.datetime(2024, 3, 9, 14, 5, 7)


def set_mtime(path: Path, when: datetime.datetime = STAMP) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


def run(command) -> None:
    asyncio.run(command.run())


class TestMoveOutOfWay:
    def test_directory_gets_its_mtime_appended(self, make, tmp_path: Path) -> None:
        (tmp_path / "render").mkdir()
        (tmp_path / "render" / "0001.png").write_bytes(b"png")
        set_mtime(tmp_path / "render")
        run(make("move_out_of_way", {"src": str(tmp_path / "render")}))
        assert files_in(tmp_path) == ["render-2024-03-09_140507"]
        assert (tmp_path / "render-2024-03-09_140507" / "0001.png").read_bytes() == b"png"

    def test_taken_names_get_a_counter(self, make, tmp_path: Path) -> None:
        for existing in ("out.mp4-2024-03-09_140507", "out.mp4-2024-03-09_140507~1"):
            (tmp_path / existing).write_text("older")
        (tmp_path / "out.mp4").write_text("newest")
        set_mtime(tmp_path / "out.mp4")
        run(make("move_out_of_way", {"src": str(tmp_path / "out.mp4")}))
        assert (tmp_path / "out.mp4-2024-03-09_140507~2").read_text() == "newest"
        assert not (tmp_path / "out.mp4").exists()

    def test_dangling_symlink_is_moved_too(self, make, tmp_path: Path) -> None:
        (tmp_path / "latest").symlink_to(tmp_path / "deleted-render")
        run(make("move_out_of_way", {"src": str(tmp_path / "latest")}))
        moved = files_in(tmp_path)
        assert len(moved) == 1 and moved[0].startswith("latest-")
        assert (tmp_path / moved[0]).is_symlink()

    def test_missing_src_succeeds(self, make, ctx: RecordingContext, tmp_path: Path) -> None:
        run(make("move_out_of_way", {"src": str(tmp_path / "nothing")}))
        assert "does not exist" in ctx.log_text
        assert ctx.progresses[-1] == 100


class TestMoveToFinal:
    def test_moves_src_and_keeps_previous_dest_aside(self, make, tmp_path: Path) -> None:
        (tmp_path / "shot__intermediate").mkdir()
        (tmp_path / "shot__intermediate" / "new.png").write_text("new")
        (tmp_path / "shot").mkdir()
        (tmp_path / "shot" / "old.png").write_text("old")
        set_mtime(tmp_path / "shot")
        run(make("move_to_final", {"src": str(tmp_path / "shot__intermediate"), "dest": str(tmp_path / "shot")}))
        assert files_in(tmp_path) == ["shot", "shot-2024-03-09_140507"]
        assert files_in(tmp_path / "shot") == ["new.png"]
        assert files_in(tmp_path / "shot-2024-03-09_140507") == ["old.png"]

    def test_missing_src_succeeds_and_says_so(self, make, ctx: RecordingContext, tmp_path: Path) -> None:
        (tmp_path / "shot").mkdir()
        run(make("move_to_final", {"src": str(tmp_path / "missing"), "dest": str(tmp_path / "shot")}))
        assert files_in(tmp_path) == ["shot"]
        assert any("does not exist" in a for a in ctx.activities)

    def test_dest_is_required(self, make, tmp_path: Path) -> None:
        with pytest.raises(CommandSettingsError) as info:
            make("move_to_final", {"src": str(tmp_path)})
        assert info.value.setting == "dest"


class TestCopyFile:
    def test_copies_contents_and_mode_and_reports_output(self, make, ctx, tmp_path: Path) -> None:
        src = tmp_path / "in" / "frame.exr"
        src.parent.mkdir()
        src.write_bytes(b"exr data")
        src.chmod(0o640)
        dest = tmp_path / "deep" / "er" / "latest.exr"
        run(make("copy_file", {"src": str(src), "dest": str(dest)}))
        assert dest.read_bytes() == b"exr data"
        assert dest.stat().st_mode & 0o777 == 0o640
        assert ctx.outputs == [str(dest)]

    def test_replaces_existing_dest(self, make, tmp_path: Path) -> None:
        (tmp_path / "a").write_text("new")
        (tmp_path / "b").write_text("old")
        run(make("copy_file", {"src": str(tmp_path / "a"), "dest": str(tmp_path / "b")}))
        assert (tmp_path / "b").read_text() == "new"

    def test_missing_src_fails_naming_it(self, make, tmp_path: Path) -> None:
        with pytest.raises(CommandFailed, match='"src" .* does not exist'):
            run(make("copy_file", {"src": str(tmp_path / "nope"), "dest": str(tmp_path / "b")}))

    def test_directory_src_is_refused(self, make, tmp_path: Path) -> None:
        with pytest.raises(CommandFailed, match="is not a file"):
            run(make("copy_file", {"src": str(tmp_path), "dest": str(tmp_path / "b")}))

    def test_empty_dest_is_invalid(self, make, tmp_path: Path) -> None:
        with pytest.raises(CommandSettingsError, match="'dest': must not be empty"):
            make("copy_file", {"src": str(tmp_path), "dest": ""})


class TestRemove:
    def test_remove_tree_removes_directory(self, make, tmp_path: Path) -> None:
        (tmp_path / "tree" / "sub").mkdir(parents=True)
        (tmp_path / "tree" / "sub" / "f").write_text("x")
        run(make("remove_tree", {"path": str(tmp_path / "tree")}))
        assert files_in(tmp_path) == []

    def test_remove_tree_removes_a_file(self, make, tmp_path: Path) -> None:
        (tmp_path / "f").write_text("x")
        run(make("remove_tree", {"path": str(tmp_path / "f")}))
        assert files_in(tmp_path) == []

    def test_remove_tree_refuses_the_root(self, make) -> None:
        with pytest.raises(CommandFailed, match="refusing to remove the filesystem root"):
            run(make("remove_tree", {"path": "/"}))

    def test_missing_paths_succeed(self, make, ctx, tmp_path: Path) -> None:
        run(make("remove_tree", {"path": str(tmp_path / "gone")}))
        run(make("remove_file", {"path": str(tmp_path / "gone")}))
        assert ctx.log_text.count("does not exist") == 2

    def test_remove_file_removes_file(self, make, tmp_path: Path) -> None:
        (tmp_path / "f").write_text("x")
        run(make("remove_file", {"path": str(tmp_path / "f")}))
        assert files_in(tmp_path) == []

    def test_remove_file_refuses_directory(self, make, tmp_path: Path) -> None:
        (tmp_path / "d").mkdir()
        with pytest.raises(CommandFailed, match="use remove_tree instead"):
            run(make("remove_file", {"path": str(tmp_path / "d")}))
        assert files_in(tmp_path) == ["d"]

    def test_path_must_be_a_string(self, make) -> None:
        with pytest.raises(CommandSettingsError, match="'path': must be a str, not list"):
            make("remove_tree", {"path": ["/tmp"]})


class TestMoveWithCounter:
    def test_counter_goes_after_the_leading_date(self, make, ctx, tmp_path: Path) -> None:
        videos = tmp_path / "videos"
        for src_name in ("a.mkv", "b.mkv"):
            (tmp_path / src_name).write_text(src_name)
            run(make("move_with_counter", {"src": str(tmp_path / src_name), "dest": str(videos / "2018_12_06-spring.mkv")}))
        assert files_in(videos) == ["2018_12_06_001-spring.mkv", "2018_12_06_002-spring.mkv"]
        assert (videos / "2018_12_06_002-spring.mkv").read_text() == "b.mkv"
        assert ctx.outputs == [str(videos / "2018_12_06_001-spring.mkv"), str(videos / "2018_12_06_002-spring.mkv")]

    def test_counter_goes_before_the_extension_without_leading_number(self, make, tmp_path: Path) -> None:
        (tmp_path / "spring_007.mkv").write_text("old")
        (tmp_path / "src.mkv").write_text("new")
        run(make("move_with_counter", {"src": str(tmp_path / "src.mkv"), "dest": str(tmp_path / "spring.mkv")}))
        assert (tmp_path / "spring_008.mkv").read_text() == "new"

    def test_missing_src_fails(self, make, tmp_path: Path) -> None:
        with pytest.raises(CommandFailed, match='"src" .* does not exist'):
            run(make("move_with_counter", {"src": str(tmp_path / "x"), "dest": str(tmp_path / "y.mkv")}))


class TestCreatePythonFile:
    def test_creates_then_overwrites(self, make, ctx, tmp_path: Path) -> None:
        path = tmp_path / "sub" / "shot-overrides.py"
        run(make("create_python_file", {"filepath": str(path), "contents": "import bpy  # é\n"}))
        assert path.read_text(encoding="utf-8") == "import bpy  # é\n"
        run(make("create_python_file", {"filepath": str(path), "contents": "pass\n"}))
        assert path.read_text() == "pass\n"
        assert f"Creating Python file {path}" in ctx.logs
        assert f"Overwriting Python file {path}" in ctx.logs

    def test_filepath_must_end_in_py(self, make, tmp_path: Path) -> None:
        with pytest.raises(CommandSettingsError) as info:
            make("create_python_file", {"filepath": str(tmp_path / "x.txt"), "contents": ""})
        assert (info.value.setting, info.value.reason) == ("filepath", "must end in .py")


def test_unexpected_errors_become_command_failed(make, ctx: RecordingContext, tmp_path: Path) -> None:
    (tmp_path / "src").write_text("x")
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(CommandFailed, match=r"copy_file\.\(task_id=.*, command_idx=0\): Error executing: "):
        run(make("copy_file", {"src": str(tmp_path / "src"), "dest": str(tmp_path / "a-file" / "dest")}))
    assert any(line.startswith("Traceback") for line in ctx.logs)
