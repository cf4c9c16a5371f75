"""What a job may require of the workers that run its tasks, and whether a worker has it (issue 15).

A job's optional ``requirements``::

    {"tags": ["gpu"], "min_cpu_cores": 16, "min_ram_gb": 32, "gpu": true, "min_gpu_memory_gb": 12}

A worker advertises ``tags`` (from its configuration, or as an admin set
them) and the ``resources`` it detected::

    {"cpu_cores": 32, "ram_bytes": 68719476736,
     "gpus": [{"model": "NVIDIA RTX A6000", "memory_bytes": 51527024640}]}

The server validates a job's requirements (:data:`EVE_SCHEMA`) and copies
them into every task it hands a Manager; the Manager's scheduler gives a task
only to a worker :func:`satisfies` them; the job page explains with
:func:`parts` why no worker can run a job. One module, so the three agree.
It is part of ``flamenco_protocol`` (standard library only) because the
submission client and the Manager import it too, without the server.

Two decisions:

- Sizes are decimal GB (10^9 bytes). A machine sold with 32 GB of RAM
  reports a little less than 32 GiB (the kernel keeps some), about 33.5e9
  bytes: it meets ``min_ram_gb: 32``, as its owner expects. GPU memory
  likewise (``nvidia-smi`` reports MiB).
- A worker whose resources are unknown (every unmodified Flamenco 2 worker)
  meets no minimum. A 32 GB job on an 8 GB machine swaps or dies after
  hours of work; waiting, with the job page saying why, is the cheaper
  mistake. Such a worker still gets every task of a job without
  requirements, and an admin can give it tags.
"""
from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Callable, Mapping

BYTES_PER_GB = 10 ** 9
# A tag: lower-case letters, digits and ``_ . : -``, as in ``gpu``, ``blender-4.2``, ``room:b``.
TAG_RE = r"^[a-z0-9][a-z0-9_.:-]{0,63}$"
_TAG = re.compile(TAG_RE)
# More tags than this on a job or worker is a mistake, not a farm.
MAX_TAGS = 32
# Upper bounds that catch typos (``--min-ram 32000`` meaning MB) without refusing real machines.
MAX_CPU_CORES = 4096
MAX_RAM_GB = 65536
MAX_GPU_MEMORY_GB = 4096
# What a worker may report: at most this many GPUs, model names this long.
MAX_GPUS = 64
MAX_GPU_MODEL = 128
NUMBER_FIELDS = ("min_cpu_cores", "min_ram_gb", "min_gpu_memory_gb")
FIELDS = ("tags", *NUMBER_FIELDS, "gpu")


class RequirementsError(ValueError):
    """Requirements, tags or resources that cannot be used; ``field`` names the culprit."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def normalised_tags(value: Any) -> Any:
    """Tags stripped and lower-cased, duplicates dropped, in order; anything but a list unchanged
    (the validation that follows names it)."""
    if not isinstance(value, list):
        return value
    out: list[Any] = []
    for tag in value:
        tag = tag.strip().lower() if isinstance(tag, str) else tag
        if tag not in out:
            out.append(tag)
    return out


def check_tags(value: Any, field: str = "tags") -> list[str]:
    """The normalised tags, or :class:`RequirementsError` naming ``field`` (``tags[2]``)."""
    tags = normalised_tags(value)
    if not isinstance(tags, list):
        raise RequirementsError(field, "must be a list of tags")
    if len(tags) > MAX_TAGS:
        raise RequirementsError(field, f"at most {MAX_TAGS} tags")
    for index, tag in enumerate(tags):
        if not isinstance(tag, str) or not _TAG.match(tag):
            raise RequirementsError(f"{field}[{index}]", f"{tag!r} is not a tag: use 1-64 letters, digits and "
                                                         "'_ . : -', starting with a letter or digit")
    return tags


# The job resource's ``requirements`` field as Eve (Cerberus) validates it: a
# 422 names the field, e.g. ``{"requirements": {"min_ram_gb": "min value is 0"}}``.
EVE_SCHEMA: dict[str, dict[str, Any]] = {
    "tags": {"type": "list", "maxlength": MAX_TAGS, "coerce": normalised_tags,
             "schema": {"type": "string", "regex": TAG_RE}},
    "min_cpu_cores": {"type": "integer", "min": 0, "max": MAX_CPU_CORES},
    "min_ram_gb": {"type": "number", "min": 0, "max": MAX_RAM_GB},
    "gpu": {"type": "boolean"},
    "min_gpu_memory_gb": {"type": "number", "min": 0, "max": MAX_GPU_MEMORY_GB},
}
_LIMITS = {"min_cpu_cores": MAX_CPU_CORES, "min_ram_gb": MAX_RAM_GB, "min_gpu_memory_gb": MAX_GPU_MEMORY_GB}


def _number(value: Any, field: str, limit: float, integer: bool) -> int | float:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not 0 <= value <= limit:
        kind = "a whole number" if integer else "a number"
        raise RequirementsError(field, f"must be {kind} from 0 to {limit}")
    return value


def parse(value: Any, field: str = "requirements") -> dict[str, Any]:
    """Checked requirements in their compact form (see :func:`compact`); the client's check, the
    server's rules (:data:`EVE_SCHEMA`) in plain Python."""
    if not isinstance(value, Mapping):
        raise RequirementsError(field, "must be an object")
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        raise RequirementsError(f"{field}.{unknown[0]}", f"unknown requirement; use {', '.join(FIELDS)}")
    checked: dict[str, Any] = {}
    if "tags" in value:
        checked["tags"] = check_tags(value["tags"], f"{field}.tags")
    for key in NUMBER_FIELDS:
        if key in value:
            checked[key] = _number(value[key], f"{field}.{key}", _LIMITS[key], key == "min_cpu_cores")
    if "gpu" in value:
        if not isinstance(value["gpu"], bool):
            raise RequirementsError(f"{field}.gpu", "must be true or false")
        checked["gpu"] = value["gpu"]
    return compact(checked)


def compact(requirements: Mapping[str, Any] | None) -> dict[str, Any]:
    """Only what constrains: no empty tag list, zero minimum or ``gpu: false``; ``gpu`` dropped when a
    GPU memory minimum implies it. Equal requirements compact to equal dicts."""
    out: dict[str, Any] = {}
    if not requirements:
        return out
    tags = sorted(set(requirements.get("tags") or ()))
    if tags:
        out["tags"] = tags
    for key in NUMBER_FIELDS:
        if requirements.get(key):
            out[key] = requirements[key]
    if requirements.get("gpu") and not out.get("min_gpu_memory_gb"):
        out["gpu"] = True
    return out


def signature(requirements: Mapping[str, Any] | None) -> str:
    """A hashable key of the requirements: equal for tasks any worker treats alike ("" for none)."""
    reduced = compact(requirements)
    return json.dumps(reduced, sort_keys=True, separators=(",", ":")) if reduced else ""


def parse_resources(value: Any, field: str = "resources") -> dict[str, Any] | None:
    """What a worker reported about its machine, checked; None when it reported nothing (unknown)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise RequirementsError(field, "must be an object")
    out: dict[str, Any] = {}
    for key in ("cpu_cores", "ram_bytes"):
        raw = value.get(key)
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            raise RequirementsError(f"{field}.{key}", "must be a whole number of at least 0")
        out[key] = raw
    gpus = value.get("gpus", [])
    if not isinstance(gpus, list) or len(gpus) > MAX_GPUS:
        raise RequirementsError(f"{field}.gpus", f"must be a list of at most {MAX_GPUS} GPUs")
    out["gpus"] = [_gpu(gpu, f"{field}.gpus[{index}]") for index, gpu in enumerate(gpus)]
    return out


def _gpu(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise RequirementsError(field, "must be an object with model and memory_bytes")
    model, memory = value.get("model", ""), value.get("memory_bytes")
    if not isinstance(model, str):
        raise RequirementsError(f"{field}.model", "must be a string")
    if isinstance(memory, bool) or not isinstance(memory, int) or memory < 0:
        raise RequirementsError(f"{field}.memory_bytes", "must be a whole number of at least 0")
    return {"model": model[:MAX_GPU_MODEL], "memory_bytes": memory}


def gb(n_bytes: int) -> str:
    """``31.3 GB``: bytes as the decimal GB the requirements use."""
    return f"{n_bytes / BYTES_PER_GB:.1f} GB"


@dataclasses.dataclass(frozen=True)
class Part:
    """One requirement: what it asks (``needs``), how a worker missing it is described (``lacking``:
    "none {lacking}"), and the test of a worker's tags and resources."""

    needs: str
    lacking: str
    met: Callable[[list[str], dict[str, Any] | None], bool]
    needs_resources: bool


def _gpu_with(minimum_bytes: int) -> Callable[[list[str], dict[str, Any] | None], bool]:
    return lambda _tags, res: res is not None and any(g["memory_bytes"] >= minimum_bytes for g in res["gpus"])


def _at_least(key: str, minimum: float) -> Callable[[list[str], dict[str, Any] | None], bool]:
    return lambda _tags, res: res is not None and res[key] >= minimum


def _has_tag(tag: str) -> Callable[[list[str], dict[str, Any] | None], bool]:
    return lambda tags, _res: tag in tags


def _number_text(value: float) -> str:
    return f"{value:g}"


def parts(requirements: Mapping[str, Any] | None) -> list[Part]:
    """The requirements one by one, in the order the job page lists them."""
    req = compact(requirements)
    out = [Part(f"tag '{tag}'", f"tagged '{tag}'", _has_tag(tag), False) for tag in req.get("tags", ())]
    if "min_cpu_cores" in req:
        cores = req["min_cpu_cores"]
        out.append(Part(f"{cores} CPU cores", f"with {cores} CPU cores", _at_least("cpu_cores", cores), True))
    if "min_ram_gb" in req:
        text = f"{_number_text(req['min_ram_gb'])} GB RAM"
        out.append(Part(text, f"with {text}", _at_least("ram_bytes", req["min_ram_gb"] * BYTES_PER_GB), True))
    if "min_gpu_memory_gb" in req:
        text = f"a GPU with {_number_text(req['min_gpu_memory_gb'])} GB memory"
        out.append(Part(text, f"with {text}", _gpu_with(int(req["min_gpu_memory_gb"] * BYTES_PER_GB)), True))
    elif req.get("gpu"):
        out.append(Part("a GPU", "with a GPU", _gpu_with(0), True))
    return out


def satisfies(requirements: Mapping[str, Any] | None, tags: list[str], resources: dict[str, Any] | None) -> bool:
    """Whether a worker with these tags and resources (None: unknown) may run a task with these requirements."""
    return all(part.met(tags, resources) for part in parts(requirements))


def describe(requirements: Mapping[str, Any] | None) -> str:
    """``tag 'gpu', 32 GB RAM`` (empty for none)."""
    return ", ".join(part.needs for part in parts(requirements))
