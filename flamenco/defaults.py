"""Every server default in one place.

``flamenco.app.create_app`` starts from these values, then applies environment
variables of the same name (parsed as JSON when the default is not a string),
then the ``config`` mapping given to it.
"""
from __future__ import annotations

MONGO_URI = "mongodb://127.0.0.1:27017/flamenco?directConnection=true&retryWrites=false"
REDIS_URL = "redis://127.0.0.1:6379/0"
# Only for local development; `flamenco server` refuses to start in production
# mode with this value (see flamenco.cli).
SECRET_KEY = "flamenco-insecure-dev-key"
TESTING = False

HOST = "127.0.0.1"
PORT = 8080
# Waitress threads: requests spend most time waiting on the database, so a
# few more threads than cores keeps the 2-core machine busy without thrashing.
SERVER_THREADS = 8

# User tokens expire after 90 days; Flamenco 2 issued 100-year service tokens
# (reference §14.6). Managers get a fresh token on linking/reset.
TOKEN_EXPIRY_DAYS = 90
MANAGER_TOKEN_EXPIRY_DAYS = 365
# 32 random bytes = 256 bits, as Pillar's generator.
TOKEN_RANDOM_BYTES = 32
MANAGER_TOKEN_PREFIX = "SRV"

# Largest request body accepted (413 beyond): job submissions and task-update
# batches are far smaller; without a bound waitress reads up to 1 GiB into memory.
MAX_CONTENT_LENGTH = 16 * 1024 * 1024

# Eve paging: Pillar used 250 for both (reference §1.5).
PAGINATION_DEFAULT = 250
PAGINATION_LIMIT = 250

# Job priorities are 1..100, 50 the default (reference §2.2).
JOB_PRIORITY_MIN = 1
JOB_PRIORITY_MAX = 100
JOB_PRIORITY_DEFAULT = 50

# Manager limits (reference §13.8 "at most 3 Managers per user for creation").
MAX_MANAGERS_PER_USER = 3

# Celery broker; empty means "use REDIS_URL". Archival is only enqueued when
# this resolves to something (tests without Celery set CELERY_ENABLED False).
CELERY_BROKER_URL = ""
CELERY_ENABLED = True
# Name of the Celery task that archives a job (written in flamenco/celery/).
CELERY_ARCHIVE_TASK = "flamenco.celery.archive_job"

FLAMENCO_RESUME_ARCHIVING_AGE_SECONDS = 86400

# Jobs estimated to compile into more tasks than this are constructed by the
# Celery task below while the POST answers at once (``under-construction``);
# smaller ones are constructed in the request. Measured on FerretDB/SQLite:
# inserting 1,000 tasks takes about 0.2 s, 10,000 about 2 s, 100,000 about 36 s.
INLINE_CONSTRUCTION_MAX_TASKS = 1000
# Name of the Celery task that constructs a big job (written in flamenco/celery/).
CELERY_CONSTRUCT_TASK = "flamenco.celery.construct_job"
# An under-construction job untouched this long has a dead (or never started)
# construction run; the beat sweep resumes it. A live run touches its job
# every few seconds (flamenco.status.CONSTRUCTION_BATCH_SIZE).
FLAMENCO_RESUME_CONSTRUCTION_AGE_SECONDS = 600
FLAMENCO_WAITING_FOR_FILES_MAX_AGE_SECONDS = 86400

# Flask-WTF: a CSRF token lives as long as the session instead of 1 hour, so a
# dashboard page left open overnight can still cancel a job in the morning.
WTF_CSRF_TIME_LIMIT = None
