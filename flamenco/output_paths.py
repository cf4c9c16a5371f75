"""What a render output path must look like, shared by the client and the server's job compilers.

The path is used by workers on other machines, possibly another platform,
so it is checked as text: it must be absolute there, and its file name needs
``#`` where Blender writes the frame number. Standard library only, since
the client installs without the server's dependencies.
"""
from __future__ import annotations

import re

# Where an absolute path starts on the workers' platforms: "/", a Windows drive
# ("C:\" or "C:/"), a UNC share ("\\server"), or a Manager variable such as
# "{render}" that the Manager replaces per platform. A relative path would be
# resolved against each worker's own working directory.
_ABSOLUTE_PATH = re.compile(r"^(?:/|\\\\|[A-Za-z]:[\\/]|\{[^{}]+\})")
# Blender replaces a run of '#' in the file name with the zero-padded frame number.
FRAME_PLACEHOLDER = "#"


def is_absolute(path: str) -> bool:
    """Whether ``path`` is absolute on some worker platform (or starts with a Manager variable)."""
    return _ABSOLUTE_PATH.match(path) is not None


def file_name(path: str) -> str:
    """The part after the last ``/`` or ``\\``."""
    return re.split(r"[/\\]", path)[-1]


def has_frame_placeholder(path: str) -> bool:
    """Whether the file name has ``#`` for the frame number, so each frame gets a file of its own."""
    return FRAME_PLACEHOLDER in file_name(path)
