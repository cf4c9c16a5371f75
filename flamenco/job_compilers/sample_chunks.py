"""How progressive rendering splits Cycles samples into chunks, and frames per chunk (reference §4.6)."""
from __future__ import annotations

import math
from typing import Iterator

# Shape of the uncapped chunk curve f(i) = ((S - s0)^(1/e) / (U-1) * i)^e + s0:
# the first chunk renders S/40 samples, later ones grow with exponent 5/3,
# so the first preview arrives fast and the image refines steadily.
FIRST_CHUNK_DIVISOR = 40
GROWTH_EXPONENT = 5 / 3
# Uncapped chunks in production (Flamenco 2's _uncapped_chunk_count).
UNCAPPED_CHUNKS = 4


def sample_chunks(sample_count: int, sample_cap: int,
                  uncapped_chunks: int = UNCAPPED_CHUNKS) -> Iterator[tuple[int, int]]:
    """1-based inclusive (start, end) sample ranges covering 1..sample_count.

    Chunks follow the growth curve while they hold at most ``sample_cap``
    samples; the rest is split into nearly equal chunks of at most the cap.
    Unlike Flamenco 2, empty chunks are skipped: it emitted a bogus ``(1, 0)``
    for sample counts below 20 (§14.17).
    """
    s0 = sample_count / FIRST_CHUNK_DIVISOR
    scale = (sample_count - s0) ** (1 / GROWTH_EXPONENT) / max(uncapped_chunks - 1, 1)
    done = 0
    for index in range(uncapped_chunks):
        end = min(round((scale * index) ** GROWTH_EXPONENT + s0), sample_count)
        if end - done > sample_cap:
            break
        if end > done:
            yield done + 1, end
            done = end
        if done >= sample_count:
            return
    left = sample_count - done
    count = math.ceil(left / sample_cap)
    for index in range(count):
        yield done + index * left // count + 1, done + (index + 1) * left // count


def frame_chunk_size(max_samples_per_task: int, frame_count: int, samples: int) -> int:
    """Frames per render task for a sample chunk, so that a task renders about ``max_samples_per_task`` samples.

    When one frame fewer per task gives a fuller last task, use that (Flamenco 2's rule).
    """
    size = max(max_samples_per_task // samples, 1)
    if size > 2 and 0 < frame_count % size < frame_count % (size - 1):
        return size - 1
    return size
