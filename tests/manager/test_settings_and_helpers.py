"""Configuration, path variables, task log files and sleep schedules."""
from __future__ import annotations

import datetime as dt
import gzip

import pytest

from flamenco_manager import task_logs
from flamenco_manager.config import ConfigError, build_config, load_config, parse_duration
from flamenco_manager.sleep_schedule import ScheduleError, desired_status, next_check, validate
from flamenco_manager.variables import VariableError, build_lookup, expand_commands


# -- config -----------------------------------------------------------------

@pytest.mark.parametrize("text, seconds", [("10m", 600), ("1h30m", 5400), ("336h", 336 * 3600), ("2.5s", 2.5),
                                           ("-1s", -1), (15, 15), ("45", 45)])
def test_durations(text, seconds):
    assert parse_duration("x", text) == seconds


def test_file_then_environment(tmp_path):
    path = tmp_path / "flamenco-manager.yaml"
    path.write_text("manager_name: Farm A\nactive_task_timeout_interval: 2m\nmode: develop\n")
    config = load_config(path, environ={"FLAMENCO_MANAGER_MANAGER_NAME": "Farm B",
                                        "FLAMENCO_MANAGER_BLACKLIST_THRESHOLD": "5"})
    assert config.manager_name == "Farm B"
    assert config.active_task_timeout_interval == 120
    assert config.blacklist_threshold == 5
    assert config.active_worker_timeout_interval == 60, "defaults fill the rest"


@pytest.mark.parametrize("settings, message", [
    ({"active_task_timeout_interval": "soon"}, "active_task_timeout_interval"),
    ({"blacklist_threshold": "many"}, "blacklist_threshold"),
    ({"blacklist_threshold": 0}, "at least 1"),
    ({"no_such_setting": 1}, "unknown setting"),
    ({"listen": "8080"}, "host:port"),
])
def test_bad_settings_are_named(settings, message):
    with pytest.raises(ConfigError, match=message):
        build_config(settings)


def test_missing_named_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml", environ={})


# -- variables --------------------------------------------------------------

VARIABLES = {
    "render": {"direction": "twoway", "values": [
        {"platform": "linux", "value": "/render/"},
        {"platforms": ["windows"], "value": "R:/"}]},
    "blender": {"direction": "oneway", "values": [
        {"platform": "linux", "audience": "workers", "value": "/opt/blender"},
        {"platform": "linux", "audience": "users", "value": "blender"}]},
}


def test_expansion_per_platform_and_audience_inside_lists():
    lookup = build_lookup(VARIABLES)
    commands = [{"name": "blender_render", "settings": {
        "blender_cmd": "{blender}", "render_output": "{render}/shot/####",
        "args": ["--out", "{render}/x"], "nested": {"p": "{render}"}, "frames": 3, "keep": "{unknown}"}}]
    linux = expand_commands(commands, lookup, "linux")[0]["settings"]
    assert linux["blender_cmd"] == "/opt/blender"
    assert linux["render_output"] == "/render/shot/####"
    assert linux["args"] == ["--out", "/render/x"] and linux["nested"] == {"p": "/render"}
    assert linux["frames"] == 3 and linux["keep"] == "{unknown}"
    assert expand_commands(commands, lookup, "windows")[0]["settings"]["render_output"] == "R:/shot/####"
    assert expand_commands(commands, lookup, "linux", "users")[0]["settings"]["blender_cmd"] == "blender"
    assert commands[0]["settings"]["blender_cmd"] == "{blender}", "the cached task is not modified"


@pytest.mark.parametrize("variables, message", [
    ({"x": {"direction": "sideways", "values": []}}, "direction"),
    ({"x": {"values": [{"value": "/a"}]}}, "platform"),
    ({"x": {"values": [{"platform": "linux", "audience": "robots", "value": "/a"}]}}, "audience"),
])
def test_bad_variables(variables, message):
    with pytest.raises(VariableError, match=message):
        build_lookup(variables)


# -- task logs --------------------------------------------------------------

JOB, TASK = "5a1b2c3d4e5f60718293a4b5", "6a1b2c3d4e5f60718293a4b5"


def test_log_path_append_and_rotation(tmp_path):
    path = task_logs.log_path(tmp_path, JOB, TASK)
    assert path == tmp_path / "job-5a1b" / JOB / f"task-{TASK}.txt"
    for run in range(4):
        task_logs.append(tmp_path, JOB, TASK, f"run {run}")
        task_logs.rotate(tmp_path, JOB, TASK, max_rotations=2)
    assert not path.exists()
    assert path.with_name(path.name + ".1").read_text() == "run 3\n"
    assert path.with_name(path.name + ".2").read_text() == "run 2\n"
    assert not path.with_name(path.name + ".3").exists(), "older rotations are dropped"


def test_prepared_log_files_are_empty_kept_and_not_rotated_away(tmp_path):
    """Files made when tasks arrive: empty, an existing log untouched, the first run writes into it."""
    other = "7a1b2c3d4e5f60718293a4b5"
    task_logs.append(tmp_path, JOB, other, "earlier run")
    task_logs.prepare(tmp_path, JOB, [TASK, other])
    path = task_logs.log_path(tmp_path, JOB, TASK)
    assert path.read_bytes() == b""
    assert task_logs.log_path(tmp_path, JOB, other).read_text() == "earlier run\n", "no truncation"
    assert gzip.decompress(task_logs.gzipped(tmp_path, JOB, TASK)) == task_logs.MISSING_LOG_TEXT.encode(), \
        "a task that never ran here has no log to upload"

    task_logs.rotate(tmp_path, JOB, TASK, max_rotations=2)  # the first run starts
    task_logs.append(tmp_path, JOB, TASK, "run 1")
    assert path.read_text() == "run 1\n"
    assert not path.with_name(path.name + ".1").exists(), "the empty file is the first run's, not a rotation"
    task_logs.rotate(tmp_path, JOB, TASK, max_rotations=2)  # a second run keeps the first apart
    assert path.with_name(path.name + ".1").read_text() == "run 1\n"


def test_pending_log_writes_keep_the_order_of_appends_and_rotations(tmp_path):
    """The journal's writer thread writes what the event loop recorded, per file in order."""
    other = "7a1b2c3d4e5f60718293a4b5"
    pending = task_logs.PendingWrites()
    pending.append(tmp_path, JOB, TASK, "first run")
    pending.append(tmp_path, JOB, other, "other task")
    pending.rotate(tmp_path, JOB, TASK, max_rotations=2)
    pending.append(tmp_path, JOB, TASK, "second run, line 1\n")
    pending.append(tmp_path, JOB, TASK, "second run, line 2")
    assert not task_logs.log_path(tmp_path, JOB, TASK).exists(), "nothing is written before write()"
    pending.write()
    path = task_logs.log_path(tmp_path, JOB, TASK)
    assert path.read_text() == "second run, line 1\nsecond run, line 2\n"
    assert path.with_name(path.name + ".1").read_text() == "first run\n"
    assert task_logs.log_path(tmp_path, JOB, other).read_text() == "other task\n"
    assert not pending
    pending.write()  # nothing left: writes nothing again
    assert path.read_text() == "second run, line 1\nsecond run, line 2\n"


def test_a_log_file_that_cannot_be_written_does_not_stop_the_others(tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a directory should be")
    pending = task_logs.PendingWrites()
    pending.append(blocked, JOB, TASK, "lost, and logged")
    pending.append(tmp_path, JOB, TASK, "kept")
    pending.write()
    assert task_logs.log_path(tmp_path, JOB, TASK).read_text() == "kept\n"


def test_tail_excerpt_and_gzip(tmp_path):
    assert task_logs.tail("\n".join(str(i) for i in range(30))) == "\n".join(str(i) for i in range(20, 30))
    big = "".join(f"line {i:06d}\n" for i in range(5000))
    task_logs.append(tmp_path, JOB, TASK, big)
    excerpt = task_logs.excerpt(task_logs.log_path(tmp_path, JOB, TASK))
    assert excerpt.startswith(b"line 000000") and excerpt.endswith(b"line 004999\n")
    assert b"Skipped" in excerpt and len(excerpt) < 16 * 1024
    assert gzip.decompress(task_logs.gzipped(tmp_path, JOB, TASK)).decode() == big
    assert gzip.decompress(task_logs.gzipped(tmp_path, JOB, "0" * 24)).decode() == task_logs.MISSING_LOG_TEXT


# -- sleep schedules --------------------------------------------------------

MONDAY = dt.datetime(2024, 1, 1)  # a Monday


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return MONDAY + dt.timedelta(days=day, hours=hour, minutes=minute)


def test_window_within_a_day():
    schedule = {"days_of_week": "mo tu", "time_start": "09:00", "time_end": "17:00"}
    assert desired_status(schedule, at(0, 10)) == "asleep"
    assert desired_status(schedule, at(0, 8, 59)) == "awake"
    assert desired_status(schedule, at(0, 17)) == "awake"
    assert desired_status(schedule, at(2, 10)) == "awake", "unlisted days are awake"


def test_window_across_midnight():
    schedule = {"days_of_week": "fr", "time_start": "22:00", "time_end": "06:00"}
    assert desired_status(schedule, at(4, 23)) == "asleep"
    assert desired_status(schedule, at(5, 5)) == "asleep", "Friday's night runs into Saturday"
    assert desired_status(schedule, at(5, 7)) == "awake"
    assert desired_status(schedule, at(5, 23)) == "awake"


def test_next_check_is_the_next_boundary():
    schedule = {"time_start": "09:00", "time_end": "17:00"}
    assert next_check(schedule, at(0, 8)) == at(0, 9)
    assert next_check(schedule, at(0, 12)) == at(0, 17)
    assert next_check(schedule, at(0, 18)) == at(1, 0)


@pytest.mark.parametrize("schedule, field", [
    ({"days_of_week": "m"}, "days_of_week"), ({"time_start": "25:00"}, "time_start"),
    ({"time_end": "noon"}, "time_end"), ({"schedule_active": "yes"}, "schedule_active"),
])
def test_bad_schedules(schedule, field):
    with pytest.raises(ScheduleError) as info:
        validate(schedule)
    assert info.value.field == field


def test_v1_variables_and_path_replacement_are_upgraded(tmp_path):
    path = tmp_path / "old.yaml"
    path.write_text("variables:\n  blender: {linux: /opt/blender, windows: 'C:/b.exe'}\n"
                    "path_replacement:\n  render: {linux: /render/, darwin: /Volumes/render}\n")
    config = load_config(path, environ={})
    assert config.variables["render"]["direction"] == "twoway"
    lookup = build_lookup(config.variables)
    assert lookup["workers"]["linux"] == {"blender": "/opt/blender", "render": "/render"}
    assert lookup["users"]["darwin"] == {"render": "/Volumes/render"}
    only_paths = build_config({"path_replacement": {"render": {"linux": "/r"}}})
    assert only_paths.variables["render"]["direction"] == "twoway" and "blender" in only_paths.variables


def test_name_in_variables_and_path_replacement_is_refused():
    with pytest.raises(ConfigError, match="render"):
        build_config({"variables": {"render": {"linux": "/a"}}, "path_replacement": {"render": {"linux": "/b"}}})
    with pytest.raises(ConfigError, match="direction"):
        build_config({"variables": {"x": {"direction": "up", "values": []}}})
