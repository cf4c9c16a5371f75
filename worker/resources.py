"""What this machine offers to jobs with requirements: CPU cores, RAM, GPUs (issue 15).

Sent at registration and sign-on as ``resources`` (Flamenco 2 managers ignore
unknown keys)::

    {"cpu_cores": 16, "ram_bytes": 67108864000,
     "gpus": [{"model": "NVIDIA GeForce RTX 4090", "memory_bytes": 25757220864}]}

GPUs come from ``nvidia-smi`` when it is on PATH; a machine without it (or
where it fails or hangs) reports no GPUs, which is true for what a render job
can use through CUDA/OptiX. Other vendors' GPUs are not detected.
"""
from __future__ import annotations

import logging
import shutil
import subprocess
from typing import Any

import psutil

from flamenco_worker import defaults

log = logging.getLogger(__name__)

BYTES_PER_MIB = 1024 ** 2
NVIDIA_SMI = "nvidia-smi"
NVIDIA_SMI_ARGS = ("--query-gpu=name,memory.total", "--format=csv,noheader,nounits")


def parse_nvidia_smi(output: str) -> list[dict[str, Any]]:
    """The GPUs of ``nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits`` output.

    One line per GPU, ``<name>, <MiB>``; the name may itself hold commas, so
    the memory is what follows the last one. Lines that do not parse (``[N/A]``,
    warnings) are skipped.
    """
    gpus = []
    for line in output.splitlines():
        name, comma, memory = line.strip().rpartition(",")
        if not comma or not name.strip():
            continue
        try:
            mib = int(float(memory.strip()))
        except ValueError:
            continue
        gpus.append({"model": name.strip(), "memory_bytes": mib * BYTES_PER_MIB})
    return gpus


def detect_gpus(timeout: float = defaults.GPU_DETECT_TIMEOUT_SECONDS) -> list[dict[str, Any]]:
    """NVIDIA GPUs from ``nvidia-smi``; none when it is missing, fails or takes longer than ``timeout``.

    ``timeout`` is real time (a subprocess's), not the worker's injectable clock.
    """
    binary = shutil.which(NVIDIA_SMI)
    if binary is None:
        return []
    try:
        result = _run_bounded([binary, *NVIDIA_SMI_ARGS], timeout)
    except (OSError, subprocess.TimeoutExpired) as ex:
        log.warning("%s did not answer (%s); reporting no GPUs", NVIDIA_SMI, ex)
        return []
    if result.returncode != 0:
        log.warning("%s exited with %d (%s); reporting no GPUs", NVIDIA_SMI, result.returncode,
                    result.stderr.strip()[:200])
        return []
    return parse_nvidia_smi(result.stdout)


def _run_bounded(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    """``subprocess.run`` that, on time-out, kills the program's whole process tree.

    ``subprocess.run`` kills only the direct child: a wrapper script around
    nvidia-smi (or a driver helper it starts) stayed behind, hung, for as long
    as it liked.
    """
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(proc.pid)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def _kill_tree(pid: int) -> None:
    try:
        parent = psutil.Process(pid)
        doomed = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for process in doomed:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def detect_resources() -> dict[str, Any]:
    """CPU cores (logical, as Blender's thread count sees them), total RAM and GPUs."""
    return {
        "cpu_cores": psutil.cpu_count(logical=True) or 0,
        "ram_bytes": psutil.virtual_memory().total,
        "gpus": detect_gpus(),
    }
