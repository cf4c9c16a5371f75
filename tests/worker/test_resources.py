"""What the worker detects about its machine (issue 15): psutil's numbers, GPUs from nvidia-smi, tags."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from flamenco_worker import resources
from flamenco_worker.config import load_config

# Real `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits` output of a two-GPU
# workstation (driver 535): the name, a comma, the memory in MiB.
NVIDIA_SMI_SAMPLE = """NVIDIA GeForce RTX 4090, 24564
NVIDIA RTX A6000, 49140
"""
# What it prints for a GPU whose memory it cannot read, and a driver warning line: both skipped.
NVIDIA_SMI_ODD = """NVIDIA A100-SXM4-80GB, 81920
Tesla K80, [N/A]
WARNING: infoROM is corrupted at gpu 0000:04:00.0
"""


def proc_meminfo_total_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal in /proc/meminfo")


def proc_cpuinfo_processors() -> int:
    return sum(1 for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("processor"))


def fake_binary(directory: Path, script: str) -> None:
    """An executable ``nvidia-smi`` on a PATH of its own: this machine has no NVIDIA driver."""
    path = directory / "nvidia-smi"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_cpu_and_ram_are_what_proc_says() -> None:
    detected = resources.detect_resources()
    assert detected["cpu_cores"] == proc_cpuinfo_processors() == os.cpu_count()
    assert detected["ram_bytes"] == proc_meminfo_total_bytes()


def test_no_nvidia_smi_means_no_gpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no nvidia-smi here
    assert resources.detect_gpus() == []
    assert resources.detect_resources()["gpus"] == []


def test_nvidia_smi_output_is_parsed_into_models_and_bytes() -> None:
    assert resources.parse_nvidia_smi(NVIDIA_SMI_SAMPLE) == [
        {"model": "NVIDIA GeForce RTX 4090", "memory_bytes": 24564 * 1024 ** 2},
        {"model": "NVIDIA RTX A6000", "memory_bytes": 49140 * 1024 ** 2},
    ]
    assert resources.parse_nvidia_smi(NVIDIA_SMI_ODD) == [
        {"model": "NVIDIA A100-SXM4-80GB", "memory_bytes": 81920 * 1024 ** 2}]
    assert resources.parse_nvidia_smi("") == []


def test_nvidia_smi_on_path_is_run_with_the_query(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_binary(tmp_path, f'[ "$1 $2" = "{" ".join(resources.NVIDIA_SMI_ARGS)}" ] || exit 9\n'
                          f"cat <<'EOF'\n{NVIDIA_SMI_SAMPLE}EOF\n")
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + "/usr/bin:/bin")
    assert [gpu["model"] for gpu in resources.detect_gpus()] == ["NVIDIA GeForce RTX 4090", "NVIDIA RTX A6000"]


@pytest.mark.parametrize("script", ["exit 6\n", "sleep 30\n"], ids=["fails", "hangs"])
def test_failing_or_hanging_nvidia_smi_means_no_gpus(script: str, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    fake_binary(tmp_path, script)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + "/usr/bin:/bin")
    assert resources.detect_gpus(timeout=1.0) == []


def test_tags_setting_is_split_and_lower_cased(tmp_path: Path) -> None:
    config_file = tmp_path / "flamenco-worker.cfg"
    config_file.write_text("[flamenco-worker]\nmanager_url = http://m:8083/\ntags = GPU big-ram gpu\n")
    config = load_config(config_file, environ={"FLAMENCO_WORKER_CREDENTIALS_FILE": str(tmp_path / "c.cfg")})
    assert config.tags == ("gpu", "big-ram")
    from_env = load_config(config_file, environ={"FLAMENCO_WORKER_TAGS": "room-b",
                                                 "FLAMENCO_WORKER_CREDENTIALS_FILE": str(tmp_path / "c.cfg")})
    assert from_env.tags == ("room-b",)


def test_a_hanging_nvidia_smi_leaves_no_process_behind(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The time-out kills the program's whole tree, not only the script the worker started."""
    import psutil

    duration = f"30.{os.getpid()}"  # a sleep of its own, to find it among the machine's processes
    fake_binary(tmp_path, f"sleep {duration} &\nwait\n")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert resources.detect_gpus(timeout=0.5) == []
    left = [p for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or [])[-1:] == [duration]]
    assert left == []
