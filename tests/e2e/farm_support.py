"""Run ``flamenco farm`` as a real process tree for end-to-end tests."""
from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

from flamenco.client.api import FlamencoClient
from flamenco.farm import environment, identities, services
from flamenco.farm.supervisor import alive, descendants, stop_leftovers
from tests.conftest import describe_process

# A 12-frame farm job renders in seconds; this bounds a hung farm, not speed.
JOB_TIMEOUT = 300.0
FARM_START_TIMEOUT = 120.0
# Between two looks at a job's status: its last task ends at any moment.
JOB_POLL_SECONDS = 0.3
# A farm stops in a few seconds; this is above the sum of its children's
# graces (flamenco.farm.supervisor), so only a hung stop reaches it.
FARM_STOP_TIMEOUT = 120.0
# Makes the farm get SIGTERM (and stop its children) when the test process
# dies: a test session killed at a CI time limit must not leave farms running.
SETPRIV = shutil.which("setpriv")
# Test farms start with SIGINT ignored, as a farm inherits it when `./dev test`
# runs as a background job of a non-interactive shell (CI): it must stop on
# Ctrl-C all the same. It did not, and every farm test waited a minute for it
# and then killed the farm, leaking its server and stores.
WITH_SIGINT_IGNORED = ["sh", "-c", 'trap "" INT; exec "$@"', "sh"]


@dataclass
class RunningFarm:
    process: subprocess.Popen
    data_dir: Path
    state: dict

    @property
    def client(self) -> FlamencoClient:
        return FlamencoClient(self.state["server_url"], self.state["token"])

    def refresh_state(self) -> dict:
        self.state = json.loads((self.data_dir / "farm-state.json").read_text())
        return self.state

    def log(self, name: str) -> str:
        path = self.data_dir / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """Run the ``flamenco`` CLI against this farm."""
        env = dict(os.environ, FLAMENCO_SERVER=self.state["server_url"], FLAMENCO_TOKEN=self.state["token"])
        return subprocess.run([sys.executable, "-m", "flamenco.cli", *args], env=env,
                              capture_output=True, text=True, timeout=120)


def farm_command(data_dir: Path, *args: str, env: Mapping[str, str] | None = None) -> tuple[list[str], dict]:
    """argv and environment of ``flamenco farm`` on free ports, with the test's own stores left out.

    Ports come from options unless ``env`` sets the farm's port variables.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("MONGO_URI", "REDIS_URL")} | dict(env or {})
    cmd = [sys.executable, "-m", "flamenco.cli", "farm", "--data-dir", str(data_dir), *args]
    for option, variable in (("--server-port", environment.SERVER_PORT_VARIABLE),
                             ("--manager-port", environment.MANAGER_PORT_VARIABLE)):
        if variable not in env:
            cmd += [option, str(services.free_port())]
    return cmd, env


@contextmanager
def worker_shared_dir(prefix: str) -> Iterator[Path]:
    """A fresh directory the farm's workers may read and write, removed afterwards.

    Outside pytest's tmp dirs, which are root's alone: a farm started by root
    runs its workers as unprivileged accounts (group flamenco-worker), as a
    studio's render share would be set up.
    """
    path = Path(tempfile.mkdtemp(prefix=f"flamenco-{prefix}-"))
    try:
        yield identities.shared_dir(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


_opened_ancestors: list[tuple[Path, int]] = []


def let_workers_reach_this_checkout() -> None:
    """Give other users passage (``o+x``: enter, not list) through closed ancestors of this checkout.

    A test farm started by root runs its workers as unprivileged accounts, which
    must import this checkout's packages; a CI clone may sit under a directory
    closed to other users (root's 0700 home), where a studio installs under /opt.
    The modes are put back when the test process ends.
    """
    if not identities.isolating() or _opened_ancestors:
        return
    for directory in reversed([services.REPO_ROOT, *services.REPO_ROOT.parents]):
        mode = stat.S_IMODE(directory.stat().st_mode)
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)
            _opened_ancestors.append((directory, mode))
    atexit.register(_close_ancestors)


def _close_ancestors() -> None:
    while _opened_ancestors:
        directory, mode = _opened_ancestors.pop()
        directory.chmod(mode)


@contextmanager
def running_farm(data_dir: Path, *args: str, env: Mapping[str, str] | None = None) -> Iterator[RunningFarm]:
    """Start ``flamenco farm`` with ``args`` (and ``env`` added); stop it (Ctrl-C) afterwards.

    The stop must leave nothing of the farm running: what is left (a bug in
    the farm's stop) is killed and fails the test.
    """
    let_workers_reach_this_checkout()
    cmd, full_env = farm_command(data_dir, *args, env=env)
    cmd = [*WITH_SIGINT_IGNORED, *cmd]
    if SETPRIV:
        cmd = [SETPRIV, "--pdeathsig", "TERM", "--", *cmd]
    out = (data_dir.parent / f"{data_dir.name}-farm.out").open("wb")
    process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=full_env, start_new_session=True)
    state_path = data_dir / "farm-state.json"
    deadline = time.monotonic() + FARM_START_TIMEOUT
    state: dict = {}
    leftovers: list[str] = []
    try:
        while not state_path.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("farm did not start:\n" + Path(out.name).read_text()[-3000:])
            time.sleep(0.3)
        state = json.loads(state_path.read_text())
        yield RunningFarm(process, data_dir, state)
    finally:
        leftovers = stop_farm(process)
        out.close()
        _remove_worker_homes(state)
    assert not leftovers, f"the farm's stop left these running (now killed): {leftovers}"


def stop_farm(process: subprocess.Popen) -> list[str]:
    """Ctrl-C the farm and wait for it; kill its whole tree if it hangs. Returns what outlived it."""
    tree = descendants(process.pid)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(FARM_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            tree += descendants(process.pid)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    leftovers = [p for p in tree if alive(p)]
    described = [describe_process(p) for p in leftovers]
    stop_leftovers(leftovers, grace=1.0)
    return described


def _remove_worker_homes(state: dict) -> None:
    """Remove a test farm's worker homes when they live outside its (temporary) data dir."""
    homes = Path(state.get("worker_homes") or "/nonexistent")
    if homes.parent == identities.WORKER_HOMES_ROOT:
        shutil.rmtree(homes, ignore_errors=True)


MAKE_SCENE = textwrap.dedent("""
    import bpy, sys
    argv = sys.argv[sys.argv.index("--") + 1:]
    path, frames, size, samples = argv[0], int(argv[1]), argv[2], int(argv[3])
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    width, height = (int(v) for v in size.split("x"))
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = 100
    scene.frame_start, scene.frame_end = 1, frames
    scene.render.fps = 24
    scene.render.image_settings.file_format = "PNG"
    cube = bpy.data.objects.get("Cube")
    if cube is not None:
        cube.location.x = 0.0
        cube.keyframe_insert("location", frame=1)
        cube.location.x = 2.0
        cube.keyframe_insert("location", frame=frames)
    bpy.ops.wm.save_as_mainfile(filepath=path)
""")


def make_scene(path: Path, frames: int = 12, size: str = "64x48", samples: int = 4) -> Path:
    """Save a small animated Cycles scene with Debian's Blender."""
    script = path.with_suffix(".make.py")
    script.write_text(MAKE_SCENE)
    subprocess.run(["blender", "-b", "--factory-startup", "--python", str(script), "--",
                    str(path), str(frames), size, str(samples)],
                   check=True, capture_output=True, timeout=120)
    return path


def wait_for_job(farm: RunningFarm, job_id: str, statuses: frozenset[str] = frozenset({"completed"}),
                 timeout: float = JOB_TIMEOUT) -> dict:
    """Poll the job until its status is one of ``statuses``; fail on a final other status."""
    deadline = time.monotonic() + timeout
    job: dict = {}
    while time.monotonic() < deadline:
        try:
            job = farm.client.get_job(job_id)
        except Exception:  # noqa: BLE001 - the server may be restarting in fault tests
            time.sleep(1)
            continue
        if job["status"] in statuses:
            return job
        if job["status"] in ("failed", "canceled", "construction-failed"):
            raise AssertionError(f"job ended {job['status']}: {job.get('status_reason')}\n"
                                 + farm.log("manager")[-3000:])
        time.sleep(JOB_POLL_SECONDS)
    raise AssertionError(f"job still {job.get('status')} after {timeout}s\n" + farm.log("manager")[-3000:])


def video_frame_count(path: Path) -> int:
    """Frames in a video, counted by ffprobe decoding it."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True)
    return int(out.stdout.strip())
