"""Path arithmetic on the strings stored in jobs (they may hold Manager variables or Windows paths).

Paths are handled as text, so ``{render}/out`` or ``C:\\out`` stay as the user
wrote them; only the last separator (``/`` or ``\\``) matters.
"""
from __future__ import annotations


def split(path: str) -> tuple[str, str]:
    """(parent, name) of ``path``; the parent keeps its own separators."""
    index = max(path.rfind("/"), path.rfind("\\"))
    if index < 0:
        return "", path
    return path[:index] or path[:1], path[index + 1:]


def parent(path: str) -> str:
    return split(path)[0]


def name(path: str) -> str:
    return split(path)[1]


def join(directory: str, *names: str) -> str:
    """``directory/name/...`` using the directory's own separator style."""
    separator = "\\" if "\\" in directory and "/" not in directory else "/"
    return separator.join([directory.rstrip("/\\"), *names]) if directory else separator.join(names)


def stem(path: str) -> str:
    """File name without its last extension."""
    file_name = name(path)
    dot = file_name.rfind(".")
    return file_name[:dot] if dot > 0 else file_name
