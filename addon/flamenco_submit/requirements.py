"""What the job requires of the workers that run it: tags and minimum resources (issue 15).

The add-on's copy of ``flamenco_protocol.requirements`` (Blender's Python has
none of Flamenco's packages): the same tag rule, limits and compact form, so the
add-on sends what ``flamenco submit --require-tag ... --min-ram ...`` sends
and refuses, before the file is saved, what the server would refuse.
tests/addon/test_consistency.py keeps the two from drifting apart.
"""
from __future__ import annotations

import math
import re

from .server import SubmitError

# A tag: lower-case letters, digits and ``_ . : -`` (flamenco_protocol.requirements.TAG_RE); upper case is folded.
TAG_RE = r"^[a-z0-9][a-z0-9_.:-]{0,63}$"
_TAG = re.compile(TAG_RE)
# Most tags a job may require (flamenco_protocol.requirements.MAX_TAGS).
MAX_TAGS = 32
# Upper bounds the server accepts (flamenco_protocol.requirements); they catch typos such as MB for GB.
MAX_CPU_CORES = 4096
MAX_RAM_GB = 65536
MAX_GPU_MEMORY_GB = 4096
# Blender's float properties are single precision (12.3 reads back as
# 12.300000190734863); a thousandth of a GB is finer than any requirement needs.
GB_DECIMALS = 3
# The panel's names of the fields, used by the properties and by the messages that name them.
LABELS = {
    "tags": "Required Tags",
    "min_cpu_cores": "Min CPU Cores",
    "min_ram_gb": "Min RAM (GB)",
    "gpu": "GPU",
    "min_gpu_memory_gb": "Min GPU Memory (GB)",
}


def tags(text: str) -> list[str]:
    """The tags in ``text`` (separated by commas or spaces), lower-cased, sorted, each once."""
    found = sorted(set(text.replace(",", " ").lower().split()))
    for tag in found:
        if not _TAG.match(tag):
            raise SubmitError(f"'{LABELS['tags']}' holds {tag!r}, which is not a tag: use 1-64 letters, digits "
                              "and '_ . : -', starting with a letter or digit")
    if len(found) > MAX_TAGS:
        raise SubmitError(f"a job may require at most {MAX_TAGS} tags, '{LABELS['tags']}' names {len(found)}")
    return found


def _minimum(value: float, key: str, limit: int) -> float:
    """``value`` if it is from 0 (no minimum) to ``limit``; NaN and infinity are refused too."""
    if not (math.isfinite(value) and 0 <= value <= limit):
        raise SubmitError(f"'{LABELS[key]}' is {value:g}; use 0 (any worker) to {limit}")
    return value


def parse(tags_text: str, min_cpu_cores: int, min_ram_gb: float, gpu: bool,
                 min_gpu_memory_gb: float) -> dict:
    """The job's ``requirements``: only what constrains (no zero minimum, no ``gpu`` when a GPU memory
    minimum implies it), as ``flamenco_protocol.requirements.compact`` writes them; empty for none."""
    checked: dict = {}
    required_tags = tags(tags_text)
    if required_tags:
        checked["tags"] = required_tags
    if _minimum(min_cpu_cores, "min_cpu_cores", MAX_CPU_CORES):
        checked["min_cpu_cores"] = min_cpu_cores
    for key, value, limit in (("min_ram_gb", min_ram_gb, MAX_RAM_GB),
                              ("min_gpu_memory_gb", min_gpu_memory_gb, MAX_GPU_MEMORY_GB)):
        rounded = round(_minimum(value, key, limit), GB_DECIMALS)
        if rounded:
            checked[key] = rounded
    if gpu and "min_gpu_memory_gb" not in checked:
        checked["gpu"] = True
    return checked
