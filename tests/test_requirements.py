"""Job requirements against worker tags and resources: the one rule server, client and Manager share."""
from __future__ import annotations

import pytest

from flamenco_protocol import requirements

GIB = 1024 ** 3
# A "32 GB" machine: the kernel keeps some of its 32 GiB, psutil reports about this much.
RAM_32_GB_MACHINE = 31_300_000_000 * GIB // 1_000_000_000
RTX_4090 = {"model": "NVIDIA GeForce RTX 4090", "memory_bytes": 24564 * 1024 ** 2}
WORKSTATION = {"cpu_cores": 32, "ram_bytes": RAM_32_GB_MACHINE, "gpus": [RTX_4090]}


def test_tags_are_all_needed() -> None:
    wanted = {"tags": ["gpu", "room-b"]}
    assert requirements.satisfies(wanted, ["room-b", "gpu", "extra"], None)
    assert not requirements.satisfies(wanted, ["gpu"], WORKSTATION)
    assert requirements.satisfies({}, [], None), "no requirements: any worker, even a Flamenco 2 one"


def test_minimums_use_decimal_gb_so_a_32_gb_machine_meets_32() -> None:
    assert requirements.satisfies({"min_ram_gb": 32}, [], WORKSTATION)
    assert not requirements.satisfies({"min_ram_gb": 34}, [], WORKSTATION)
    assert requirements.satisfies({"min_cpu_cores": 32}, [], WORKSTATION)
    assert not requirements.satisfies({"min_cpu_cores": 33}, [], WORKSTATION)
    assert requirements.satisfies({"gpu": True, "min_gpu_memory_gb": 24}, [], WORKSTATION)
    assert not requirements.satisfies({"min_gpu_memory_gb": 26}, [], WORKSTATION)
    assert not requirements.satisfies({"gpu": True}, [], {**WORKSTATION, "gpus": []})


def test_unknown_resources_meet_no_minimum_but_tags_still_count() -> None:
    assert not requirements.satisfies({"min_cpu_cores": 1}, ["gpu"], None)
    assert not requirements.satisfies({"gpu": True}, ["gpu"], None)
    assert requirements.satisfies({"tags": ["gpu"]}, ["gpu"], None)


def test_equal_requirements_share_a_signature() -> None:
    one = {"tags": ["b", "a"], "gpu": True, "min_gpu_memory_gb": 8, "min_ram_gb": 0}
    same = {"tags": ["a", "b", "a"], "min_gpu_memory_gb": 8}
    assert requirements.signature(one) == requirements.signature(same) != ""
    assert requirements.signature({"tags": [], "gpu": False, "min_cpu_cores": 0}) == ""


@pytest.mark.parametrize("value,field", [
    ({"tags": "gpu"}, "requirements.tags"),
    ({"tags": ["gpu", "has space"]}, "requirements.tags[1]"),
    ({"min_ram_gb": -1}, "requirements.min_ram_gb"),
    ({"min_ram_gb": True}, "requirements.min_ram_gb"),
    ({"min_cpu_cores": 2.5}, "requirements.min_cpu_cores"),
    ({"gpu": "yes"}, "requirements.gpu"),
    ({"ram": 32}, "requirements.ram"),
    ([], "requirements"),
])
def test_bad_requirements_name_the_field(value: object, field: str) -> None:
    with pytest.raises(requirements.RequirementsError) as caught:
        requirements.parse(value)
    assert caught.value.field == field


def test_parse_normalises_tags_and_drops_what_does_not_constrain() -> None:
    assert requirements.parse({"tags": [" GPU ", "gpu"], "min_ram_gb": 0, "gpu": False}) == {"tags": ["gpu"]}


@pytest.mark.parametrize("value,field", [
    ({"cpu_cores": -1, "ram_bytes": 1}, "resources.cpu_cores"),
    ({"cpu_cores": 4}, "resources.ram_bytes"),
    ({"cpu_cores": 4, "ram_bytes": 1, "gpus": [{"model": "x"}]}, "resources.gpus[0].memory_bytes"),
    ("lots", "resources"),
])
def test_bad_resources_name_the_field(value: object, field: str) -> None:
    with pytest.raises(requirements.RequirementsError) as caught:
        requirements.parse_resources(value)
    assert caught.value.field == field


def test_describe_lists_each_requirement() -> None:
    assert requirements.describe({"tags": ["gpu"], "min_ram_gb": 32, "min_gpu_memory_gb": 12.5}) == (
        "tag 'gpu', 32 GB RAM, a GPU with 12.5 GB memory")
