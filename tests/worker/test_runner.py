"""Task progress derived from the command index and the command's own progress."""
from __future__ import annotations

import pytest

from flamenco_worker.runner import task_progress


@pytest.mark.parametrize("index, percentage, count, expected", [
    (0, 0, 4, 0),
    (0, 100, 4, 25),
    (1, 50, 4, 37),
    (3, 100, 4, 100),
    (0, 60, 1, 60),
    (0, 0, 0, 100),
])
def test_task_progress(index: int, percentage: int, count: int, expected: int) -> None:
    assert task_progress(index, percentage, count) == expected
