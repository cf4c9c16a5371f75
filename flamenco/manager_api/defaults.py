"""Defaults of the Manager-facing API, in one place (reference v2-server.md §5.3-§6)."""
from __future__ import annotations

import datetime

# A linking key lives this long (reference §6.2: "remove_after = now + 15 min").
LINKING_KEY_LIFETIME = datetime.timedelta(minutes=15)
# /link/exchange is unauthenticated (reference §14.7); cap the keys waiting to
# be used per client address, so one client can neither fill the collection nor
# (as the former global cap of 1,000 did) lock every other Manager out. A
# Manager needs one key per linking attempt; ten leave room for retries and a
# few Managers behind one NAT address. Each key, and so each count, expires
# with LINKING_KEY_LIFETIME.
MAX_PENDING_LINKING_KEYS_PER_ADDRESS = 10
# Accepted secret sizes in bytes: the Manager sends 32 random bytes; refuse
# trivially guessable or absurdly large keys.
LINKING_KEY_MIN_BYTES = 16
LINKING_KEY_MAX_BYTES = 256

# The Manager sends only the last lines of a log; when an old Manager sends a
# whole log chunk, keep this many lines as the task's tail (reference §6.4).
LOG_TAIL_LINES = 10
# The task schema limits ``activity`` to 128 characters.
ACTIVITY_MAX_LENGTH = 128

# Where uploaded task logs go, relative to the storage directory (reference §6.5).
TASK_LOG_DIR = "flamenco-task-logs"
TASK_LOG_BACKEND = "local"
# Storage directory when neither config STORAGE_DIR nor $FLAMENCO_STORAGE_DIR names one.
STORAGE_DIR_ENV = "FLAMENCO_STORAGE_DIR"
DEFAULT_STORAGE_SUBDIR = "storage"

# Header names and formats of the depsgraph protocol (reference §6.3, A.4).
IF_UPDATED_SINCE_HEADER = "X-Flamenco-If-Updated-Since"
LAST_UPDATED_HEADER = "X-Flamenco-Last-Updated"
LAST_UPDATED_FORMAT_HEADER = "X-Flamenco-Last-Updated-Format"
LAST_UPDATED_FORMAT = "ISO-8601"
# Our addition: "true" when the answer claimed a full page of queued tasks and
# more wait. Flamenco 2 Managers ignore it and get the rest at their next
# download; ours ask again at once.
MORE_TASKS_HEADER = "X-Flamenco-More-Tasks"
BSON_MIMETYPE = "application/bson"
