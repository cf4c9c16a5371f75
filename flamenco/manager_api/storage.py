"""Local file storage of uploaded task logs (and, for Celery, job archives).

Flamenco 2 stored these in a Pillar storage bucket; here they are files under
one storage directory, named only from ObjectIds so no client-supplied text
ever becomes part of a path.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

from bson import ObjectId

from flamenco.manager_api import defaults


class UnsafePath(ValueError):
    """A relative storage path that would leave the storage directory."""


def storage_dir(config: Mapping[str, Any]) -> Path:
    """The storage directory: config ``STORAGE_DIR``, else ``$FLAMENCO_STORAGE_DIR``,
    else ``<data dir>/storage`` (the same data dir the local services use)."""
    configured = config.get("STORAGE_DIR") or os.environ.get(defaults.STORAGE_DIR_ENV)
    if configured:
        return Path(configured)
    from flamenco.farm.services import DEFAULT_DATA_DIR

    return DEFAULT_DATA_DIR / defaults.DEFAULT_STORAGE_SUBDIR


def resolve(root: Path, relative: str) -> Path:
    """``root / relative``, refusing anything that escapes ``root``."""
    root = root.resolve()
    path = (root / relative).resolve()
    if root != path and root not in path.parents:
        raise UnsafePath(f"{relative!r} is outside the storage directory")
    return path


def task_log_relpath(job_id: ObjectId | None, task_id: ObjectId) -> str:
    """Relative path of a task's uploaded log (reference §6.5 blob name)."""
    return f"{defaults.TASK_LOG_DIR}/job-{job_id}/task-{task_id}.log.gz"


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and rename, so readers
    never see half a file and a crash leaves the old version intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
