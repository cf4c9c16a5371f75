"""What ``flamenco farm`` gives its children (issues 13 and 14), through a real farm process.

- The farm's own variables (``FLAMENCO_MANAGER_PORT``) configure the farm,
  not the manager (which refused ``port`` as an unknown setting).
- A component that dies at start-up stops the farm with a non-zero exit
  and the end of its log, not just "manager exited".
- The banner's submit command runs as printed, with bin/ not on PATH.
- Started by root, the farm runs each worker as its own unprivileged user
  with an allow-listed environment, so a task cannot read the farm's
  secrets or another worker's credentials, while jobs still run.
"""
from __future__ import annotations

import json
import os
import pwd
import re
import shlex
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from flamenco.farm import environment, identities, services
from tests.e2e.farm_support import RunningFarm, farm_command, running_farm, wait_for_job, worker_shared_dir

pytestmark = [pytest.mark.slow]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="a farm isolates its workers only when started by root")

# PATH without the virtualenv's bin/ (where the `flamenco` script is), as in a fresh shell.
PLAIN_PATH = "/usr/local/bin:/usr/bin:/bin"
# Blender, which the farm's manager allows (its `blender` variable), runs the probe:
# it reads what a job's Python could read on a render node.
PROBE = """
import json, os
report = {"uid": os.getuid(), "groups": os.getgroups(), "env": sorted(os.environ)}
for name, path in json.loads(%r).items():
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            with open(path, "rb") as fh:
                fh.read(1)
        report[name] = "read"
    except OSError as ex:
        report[name] = type(ex).__name__
print("PROBE " + json.dumps(report), flush=True)
"""
FARM_START_TIMEOUT = 180.0


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFarm]:
    """Two workers; ports only from the farm's variables; bin/ not on PATH."""
    env = {environment.SERVER_PORT_VARIABLE: str(services.free_port()),
           environment.MANAGER_PORT_VARIABLE: str(services.free_port()),
           "PATH": PLAIN_PATH}
    with running_farm(tmp_path_factory.mktemp("isolation") / "farm", "--workers", "2", env=env) as running:
        running.state["env"] = env
        yield running


def farm_output(farm: RunningFarm) -> str:
    return (farm.data_dir.parent / f"{farm.data_dir.name}-farm.out").read_text(errors="replace")


def test_port_variables_configure_the_farm_not_the_manager(farm: RunningFarm) -> None:
    env = farm.state["env"]
    assert farm.state["manager_url"].endswith(":" + env[environment.MANAGER_PORT_VARIABLE])
    assert farm.state["server_url"].endswith(":" + env[environment.SERVER_PORT_VARIABLE])
    assert "unknown setting" not in farm.log("manager")
    assert farm.client.list_projects()


def test_banner_submit_command_runs_as_printed(farm: RunningFarm) -> None:
    deadline = time.monotonic() + 30
    while "Submit a job:" not in farm_output(farm) and time.monotonic() < deadline:
        time.sleep(0.3)
    line = next(line for line in farm_output(farm).splitlines() if line.startswith("Submit a job:"))
    words = shlex.split(line.split(":", 1)[1])
    assignments = [w for w in words[:words.index("submit")] if re.match(r"^[A-Z_]+=", w)]
    command = words[len(assignments):words.index("submit")]
    env = {"PATH": PLAIN_PATH} | dict(a.split("=", 1) for a in assignments)
    result = subprocess.run([*command, "jobs", "list"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (command, result.stderr)


def test_a_component_failing_at_start_up_stops_the_farm_with_its_error(tmp_path: Path) -> None:
    """A manager setting it rejects: the farm must exit non-zero and show why."""
    cmd, env = farm_command(tmp_path / "farm", "--workers", "0", env={"FLAMENCO_MANAGER_NO_SUCH_SETTING": "1"})
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=FARM_START_TIMEOUT)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "no_such_setting: unknown setting" in output, output[-3000:]
    assert "manager exited" in output
    assert "Traceback" not in output


@needs_root
def test_workers_run_as_their_own_unprivileged_users(farm: RunningFarm) -> None:
    uids = {}
    for name in ("worker-1", "worker-2"):
        status = Path(f"/proc/{farm.state['pids'][name]}/status").read_text()
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        real, effective, saved, fs = (int(v) for v in uid_line.split()[1:])
        assert real == effective == saved == fs != 0
        assert pwd.getpwuid(real).pw_name == identities.WORKER_USER_PREFIX + name.split("-")[1]
        assert re.search(r"^Groups:\s*$", status, re.M), "root's supplementary groups were kept"
        uids[name] = real
        environ = Path(f"/proc/{farm.state['pids'][name]}/environ").read_bytes().split(b"\0")
        names = {entry.split(b"=", 1)[0].decode() for entry in environ if entry}
        assert names <= environment.WORKER_PASSED_VARIABLES | {"HOME", "USER", "LOGNAME", "PYTHONUNBUFFERED"}, names
        home = Path(farm.state["worker_homes"]) / name
        assert home.stat().st_uid == real and home.stat().st_mode & 0o777 == 0o700
    assert uids["worker-1"] != uids["worker-2"]


@needs_root
def test_worker_config_holds_no_registration_secret(farm: RunningFarm) -> None:
    secret = json.loads((farm.data_dir / "credentials.json").read_text())["worker_registration_secret"]
    for name in ("worker-1", "worker-2"):
        home = Path(farm.state["worker_homes"]) / name
        assert "worker_id" in (home / "credentials.cfg").read_text()
        assert secret not in (home / "flamenco-worker.cfg").read_text()


def submit_exec(farm: RunningFarm, cmd: str) -> str:
    job = farm.client.submit_job({"name": "probe", "job_type": "exec-command", "settings": {"cmd": cmd},
                                  "project": farm.state["project_id"], "manager": farm.state["manager_id"],
                                  "priority": 50})
    return job["_id"]


def task_log(farm: RunningFarm, job_id: str) -> str:
    logs = list((farm.data_dir / "manager" / "task-logs").glob(f"job-*/{job_id}/task-*.txt"))
    assert len(logs) == 1, logs
    return logs[0].read_text(errors="replace")


@needs_root
def test_a_task_cannot_read_farm_secrets_or_another_workers_credentials(farm: RunningFarm) -> None:
    data, homes = farm.data_dir, Path(farm.state["worker_homes"])
    targets = {
        "farm-state": data / "farm-state.json", "secret_key": data / "secret_key",
        "credentials": data / "credentials.json", "manager-config": data / "manager" / "flamenco-manager.yaml",
        "store": data / "ferretdb", "data-dir": data,
        **{f"{w}-credentials": homes / w / "credentials.cfg" for w in ("worker-1", "worker-2")},
        **{f"{w}-config": homes / w / "flamenco-worker.cfg" for w in ("worker-1", "worker-2")},
    }
    with worker_shared_dir("probe") as shared:
        probe = shared / "probe.py"
        probe.write_text(PROBE % json.dumps({k: str(v) for k, v in targets.items()}))
        job_id = submit_exec(farm, f"/usr/bin/blender -b --factory-startup --python-exit-code 1 --python {probe}")
        assert wait_for_job(farm, job_id)["status"] == "completed"
    log = task_log(farm, job_id)
    report = json.loads(log.split("PROBE ", 1)[1].splitlines()[0])
    own = pwd.getpwuid(report["uid"]).pw_name.removeprefix(identities.WORKER_USER_PREFIX)
    other = {"1": "2", "2": "1"}[own]
    assert report["uid"] != 0 and 0 not in report["groups"]
    for name in ("farm-state", "secret_key", "credentials", "manager-config", "store", "data-dir",
                 f"worker-{other}-credentials", f"worker-{other}-config"):
        assert report[name] == "PermissionError", (name, report)
    assert report[f"worker-{own}-credentials"] == "read"  # its own: the one credential a task may reach
    assert not [v for v in report["env"] if v.startswith(("FLAMENCO_", "MONGO", "REDIS", "SECRET"))], report["env"]
    creds = json.loads((data / "credentials.json").read_text())
    secrets = [creds["token"], creds["password"], creds["manager_token"], creds["worker_registration_secret"],
               creds["manager_dashboard_password"], (data / "secret_key").read_text().strip()]
    assert not [s for s in secrets if s in log]


def test_the_farms_manager_allows_only_its_own_programs(farm: RunningFarm) -> None:
    """Even with the run-programs capability, an exec-command may not start /bin/cat on this farm."""
    job_id = submit_exec(farm, f"/bin/cat {farm.data_dir / 'farm-state.json'}")
    job = wait_for_job(farm, job_id, statuses=frozenset({"failed"}))
    assert job["status"] == "failed"
    tasks = farm.client.list_page("flamenco/tasks", where={"job": job_id}).items
    assert "not allowed on this manager" in json.dumps(tasks), tasks

