"""Defaults of the background jobs: beat intervals and housekeeping limits.

Ages that a deployer tunes (waiting-for-files, resume-archiving) live in
``flamenco/defaults.py`` with the other server settings, so they can be set
through the environment like everything else.
"""
from __future__ import annotations

# Beat intervals in seconds. Flamenco 2 suggested 600 s for the runnability
# check and 3600 s for the waiting-for-files cleanup (reference §7).
RUNNABILITY_CHECK_INTERVAL = 600.0
WAITING_FOR_FILES_CLEANUP_INTERVAL = 3600.0
RESUME_ARCHIVING_INTERVAL = 3600.0
# Half the default resume age (flamenco/defaults.py), so a stalled construction
# is picked up at most 15 minutes after its run stopped.
RESUME_CONSTRUCTION_INTERVAL = 300.0
# Orphaned logs only waste disk space; a few times a day is plenty.
ORPHAN_TASK_LOG_CLEANUP_INTERVAL = 6 * 3600.0
# Linking keys live 15 minutes; sweeping at that rate keeps the collection tiny.
EXPIRED_LINKING_KEYS_CLEANUP_INTERVAL = 900.0

# Results are only looked at by tests and operators; keep them an hour, as Pillar did.
RESULT_EXPIRES_SECONDS = 3600

# Where archives go, relative to the storage directory (reference §7 blob names).
ARCHIVE_DIR = "flamenco-jobs"
# Work directories of archives being built, relative to the storage directory.
ARCHIVE_WORK_DIR = "flamenco-jobs/.in-progress"
