"""Render output paths as workers see them: absolute on some platform, '#' for the frame number."""
from __future__ import annotations

import pytest

from flamenco.output_paths import has_frame_placeholder, is_absolute


@pytest.mark.parametrize("path, absolute", [
    ("/render/shot/######", True),
    ("C:\\render\\shot\\####", True),
    ("c:/render/####", True),
    ("\\\\farm\\render\\####", True),    # a UNC share
    ("{render}/shot/####", True),         # a Manager variable, replaced per worker platform
    ("render/shot/####", False),
    ("./shot/####", False),
    ("~/shot/####", False),
    ("{}/shot/####", False),
    ("C:render\\####", False),            # relative to drive C's current directory
])
def test_is_absolute(path: str, absolute: bool) -> None:
    assert is_absolute(path) is absolute


@pytest.mark.parametrize("path, placeholder", [
    ("/render/frames-######", True),
    ("/render/####.png", True),
    ("C:\\render\\f-#", True),
    ("/render/frames-", False),
    ("/render/#/frames", False),          # '#' in a directory does not number the frames
    ("C:\\re#nder\\frames", False),
])
def test_has_frame_placeholder(path: str, placeholder: bool) -> None:
    assert has_frame_placeholder(path) is placeholder
