"""Who a local farm's workers run as, and where they keep their credentials (issue 13).

A task runs whatever its job says (a member's .blend runs Python, an
``exec-command`` job a shell command) with its worker's permissions. Started
by root, the farm therefore runs worker N as its own system user
``flamenco-worker-N`` (created with ``useradd`` when missing), all in the
group ``flamenco-worker``:

- distinct uids, so worker 1's task cannot read worker 2's credentials;
- one shared group, so the frames one worker renders can be moved, merged and
  encoded by the next one: workers run with umask 007 and a studio makes its
  job files and output directories group ``flamenco-worker`` (setgid
  directories keep the group on what the workers create);
- supplementary groups dropped (root's groups would otherwise stay).

The switch is made by ``subprocess.Popen(user=, group=, extra_groups=[],
umask=)``: done by the interpreter between fork and exec, unlike a
``preexec_fn`` calling ``os.setuid`` which is unsafe in a threaded parent.

Each worker's home (its config, credentials and update queue) is a 0700
directory owned by its user. The farm's data dir stays 0700 root (it holds
the admin's token, ``SECRET_KEY``, the manager's config and the data store),
so when isolating, worker homes live outside it, under
``/var/lib/flamenco-farm/<farm>/`` (0711: enterable, not listable). A farm
not started by root runs everything as its own user and cannot isolate: its
worker homes stay in the data dir.

A worker account must be able to run the interpreter: one under root's 0700
home (pyenv) is out of its reach, so the workers then run on the system's
Python of the same version with this installation's packages
(:func:`python_module_as`).
"""
from __future__ import annotations

import fcntl
import grp
import hashlib
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from flamenco.farm import bootstrap

WORKER_GROUP = "flamenco-worker"
WORKER_USER_PREFIX = "flamenco-worker-"
# Files a worker creates: group-writable (the next worker moves or merges
# them), nothing for others.
WORKER_UMASK = 0o007
# Root of the isolated workers' homes; one subdirectory per farm data dir.
WORKER_HOMES_ROOT = Path("/var/lib/flamenco-farm")
# Enterable by the workers (to reach their own home), not listable.
TRAVERSE_ONLY_DIR_MODE = 0o711
# Shared, setgid directories for job files and output (a studio's render
# share, or a test's output): group flamenco-worker may write, others not.
SHARED_DIR_MODE = 0o2770
NO_LOGIN_SHELL = "/usr/sbin/nologin"
# The distribution's interpreter of this Python's version: runs the workers
# when this interpreter sits where the worker accounts may not go (a pyenv
# under root's 0700 home).
SYSTEM_PYTHON = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
# Starts a module under SYSTEM_PYTHON with this installation's packages
# (addsitedir also reads their .pth files, e.g. editable installs).
RUN_WITH_OUR_PACKAGES = ("import runpy, site; site.addsitedir({site_dir!r}); "
                         "runpy.run_module({module!r}, run_name='__main__', alter_sys=True)")
# The same, only importing the module: can the account use this installation at all?
IMPORT_WITH_OUR_PACKAGES = "import importlib, site; site.addsitedir({site_dir!r}); importlib.import_module({module!r})"
# Characters of the data dir's digest in its worker-homes directory name.
FARM_KEY_LENGTH = 12


class IdentityError(RuntimeError):
    """A worker account could not be created."""


@dataclass(frozen=True)
class Identity:
    """A Unix account a worker runs as."""

    name: str
    uid: int
    gid: int

    def popen_options(self) -> dict[str, Any]:
        """``subprocess.Popen`` arguments that start a child as this account, without root's groups."""
        return {"user": self.uid, "group": self.gid, "extra_groups": [], "umask": WORKER_UMASK}


def isolating() -> bool:
    """True when the farm can run its workers as other users: it was started by root."""
    return os.geteuid() == 0


def worker_homes_dir(data_dir: Path) -> Path:
    """Where this farm's workers keep their homes: ``data_dir`` unless isolating."""
    if not isolating():
        return data_dir
    key = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:FARM_KEY_LENGTH]
    return WORKER_HOMES_ROOT / f"{data_dir.name.lstrip('.') or 'farm'}-{key}"


def traversable_dir(path: Path) -> Path:
    """Create ``path`` and its parents as root-owned 0711 directories."""
    for directory in reversed([path, *path.parents]):
        if directory.exists():
            continue
        directory.mkdir(mode=TRAVERSE_ONLY_DIR_MODE)
        directory.chmod(TRAVERSE_ONLY_DIR_MODE)  # mkdir's mode is narrowed by the umask
    return path


def worker_identity(index: int) -> Identity:
    """The account worker ``index`` runs as, created (with the group) when missing."""
    name = f"{WORKER_USER_PREFIX}{index}"
    with _accounts_lock():
        gid = _ensure_group()
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            _run("useradd", "--system", "--gid", WORKER_GROUP, "--no-create-home", "--home-dir", "/nonexistent",
                 "--shell", NO_LOGIN_SHELL, "--comment", "Flamenco farm worker", name)
            entry = pwd.getpwnam(name)
    return Identity(name, entry.pw_uid, gid)


def worker_group_id() -> int:
    """The gid of group ``flamenco-worker``, created when missing."""
    with _accounts_lock():
        return _ensure_group()


def shared_dir(path: Path) -> Path:
    """Make ``path`` a directory every worker may read and write (group flamenco-worker, setgid)."""
    path.mkdir(parents=True, exist_ok=True)
    if isolating():
        os.chown(path, 0, worker_group_id())
        path.chmod(SHARED_DIR_MODE)
    return path


def prepare_home(home: Path, identity: Identity | None) -> Path:
    """Create a worker's 0700 home, owned by ``identity`` (when isolating), in a directory it may enter."""
    if identity is not None:
        traversable_dir(home.parent)
    bootstrap.private_dir(home)
    hand_over(home, identity)
    return home


def hand_over(path: Path, identity: Identity | None) -> None:
    """Give a file the farm wrote for a worker to that worker's account (no-op when not isolating)."""
    if identity is not None:
        os.chown(path, identity.uid, identity.gid)


def python_module_as(identity: Identity | None, module: str, *args: str) -> list[str]:
    """argv that runs ``module`` of this installation as ``identity``.

    This interpreter when the account can run it and import our packages;
    otherwise :data:`SYSTEM_PYTHON` with this installation's site-packages.
    """
    if identity is None or _runs_as(identity, [sys.executable, "-c", f"import {module}"]):
        return [sys.executable, "-m", module, *args]
    if not SYSTEM_PYTHON.exists():
        raise IdentityError(f"{identity.name} cannot run {sys.executable} (a directory on its way is closed to "
                            f"other users) and there is no {SYSTEM_PYTHON}: install Python where every user "
                            f"may run it")
    site_dir = sysconfig.get_paths()["purelib"]
    boot = RUN_WITH_OUR_PACKAGES.format(site_dir=site_dir, module=module)
    check = IMPORT_WITH_OUR_PACKAGES.format(site_dir=site_dir, module=module)
    if not _runs_as(identity, [str(SYSTEM_PYTHON), "-c", check]):
        raise IdentityError(f"{identity.name} cannot import {module} from {site_dir} (a directory on its way is "
                            f"closed to other users): install Flamenco where every user may read it (/opt, "
                            f"/usr/local), or start the farm as a normal user")
    return [str(SYSTEM_PYTHON), "-c", boot, *args]


def _runs_as(identity: Identity, argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, cwd="/", env={}, capture_output=True, timeout=60,
                              **identity.popen_options()).returncode == 0
    except OSError:  # PermissionError: the interpreter itself is out of reach
        return False


def _ensure_group() -> int:
    try:
        return grp.getgrnam(WORKER_GROUP).gr_gid
    except KeyError:
        _run("groupadd", "--system", WORKER_GROUP)
        return grp.getgrnam(WORKER_GROUP).gr_gid


@contextmanager
def _accounts_lock() -> Iterator[None]:
    """Serialise account creation between farms started at the same time (useradd would race)."""
    traversable_dir(WORKER_HOMES_ROOT)
    with (WORKER_HOMES_ROOT / ".accounts.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _run(tool: str, *args: str) -> None:
    binary = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")
    if binary is None:
        raise IdentityError(f"{tool} not found: it creates the unprivileged accounts a farm started by root "
                            f"runs its workers as (Debian package passwd)")
    proc = subprocess.run([binary, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise IdentityError(f"{tool} {' '.join(args)} failed: {proc.stderr.strip()}")
