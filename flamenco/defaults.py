"""Every server default in one place.

``flamenco.app.create_app`` starts from these values, then applies environment
variables of the same name (parsed as JSON when the default is not a string),
then the ``config`` mapping given to it.
"""
from __future__ import annotations

MONGO_URI = "mongodb://127.0.0.1:27017/flamenco?directConnection=true&retryWrites=false"
REDIS_URL = "redis://127.0.0.1:6379/0"
# How long a database call waits for a reachable store before failing
# (pymongo's default is 30 s): with the store down, requests answer 503 with
# Retry-After within about 2 s instead of holding a thread for 30 s and then
# answering 500. Generous for a store on the same network, which answers in ms.
MONGO_SERVER_SELECTION_TIMEOUT_MS = 1500
# A TCP connect to the store taking longer than this counts as a failure (a
# store host that drops packets instead of refusing the connection).
MONGO_CONNECT_TIMEOUT_MS = 1000
# Seconds a client is asked to wait after a 503 for an unreachable store.
STORE_UNAVAILABLE_RETRY_AFTER_SECONDS = 5
# Signs session cookies and CSRF tokens. This published placeholder only lets
# create_app() run in tests and scripts: `flamenco server` refuses to serve with
# it on any address (see flamenco.cli); `flamenco farm` generates a key.
SECRET_KEY = "flamenco-insecure-dev-key"
TESTING = False

HOST = "127.0.0.1"
PORT = 8080
# Waitress threads: requests spend most time waiting on the database, so a
# few more threads than cores keeps the 2-core machine busy without thrashing.
SERVER_THREADS = 8
# Live-update (SSE) streams of the dashboard: each holds a waitress thread for
# as long as a page is open, so `flamenco server` runs this many threads on
# top of SERVER_THREADS. A user's tabs share LIVE_STREAMS_PER_USER (429
# beyond), so one user cannot take the streams of every other project; the
# process serves LIVE_STREAMS_MAX in all (503 beyond). Idle streams cost a
# thread stack and a Redis connection each, not CPU.
LIVE_STREAMS_PER_USER = 4
LIVE_STREAMS_MAX = 64

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

# Queued tasks claimed per depsgraph answer (flamenco.manager_api.depsgraph).
# A claim writes every task it takes (about half a millisecond each on the
# local store, flamenco.store: write), so 10,000 queued tasks made one request
# of many seconds and 100,000 of minutes. On the local store a page of 1,000
# takes 1-2 s; 500 is no better, as each answer also has about half a second
# of fixed cost (a 10,000-task pull: 14.3 s in 10 answers against 22.6 s in
# 20, 2026-12-03).
DEPSGRAPH_CLAIM_PAGE_TASKS = 1000

# Eve paging: Pillar used 250 for both (reference §1.5).
PAGINATION_DEFAULT = 250
PAGINATION_LIMIT = 250
# Highest ?page= accepted (400 beyond): a million pages of 250 is far more than
# any collection here holds, and keeps Eve's skip ((page-1) * max_results) far
# inside the 64 bits MongoDB takes (a huge page was an OverflowError, a 500).
REQUEST_MAX_PAGE = 1_000_000
# Highest ?max_results= accepted (Eve caps it at PAGINATION_LIMIT; far bigger
# values overflowed Eve's int(float(...))).
REQUEST_MAX_RESULTS = 1_000_000

# Deepest nesting accepted in client JSON (bodies, where, projection). Real
# payloads nest at most about 6 levels (Manager variables, task-update
# metrics); BSON encoding and schema validation recurse once per level.
JSON_MAX_DEPTH = 32

# Job priorities are 1..100, 50 the default (reference §2.2).
JOB_PRIORITY_MIN = 1
JOB_PRIORITY_MAX = 100
JOB_PRIORITY_DEFAULT = 50
# A job may wait for at most this many other jobs (its ``depends_on``); bounds
# what releasing or describing a waiting job reads (flamenco.jobs.dependencies).
JOB_MAX_DEPENDENCIES = 32

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
# smaller ones are constructed in the request. Measured on the local store
# (flamenco.store: insert): inserting 1,000 tasks takes about 0.2 s, 10,000
# about 2 s, 100,000 about 36 s.
INLINE_CONSTRUCTION_MAX_TASKS = 1000
# Name of the Celery task that constructs a big job (written in flamenco/celery/).
CELERY_CONSTRUCT_TASK = "flamenco.celery.construct_job"
# An under-construction job untouched this long has a dead (or never started)
# construction run; the beat sweep resumes it. A live run touches its job
# every few seconds (flamenco.jobs.construction_runs.CONSTRUCTION_BATCH_SIZE).
FLAMENCO_RESUME_CONSTRUCTION_AGE_SECONDS = 600
FLAMENCO_WAITING_FOR_FILES_MAX_AGE_SECONDS = 86400

# Flask-WTF: a CSRF token lives as long as the session instead of 1 hour, so a
# dashboard page left open overnight can still cancel a job in the morning.
WTF_CSRF_TIME_LIMIT = None

# Dashboard session cookie: not sent with cross-site subrequests or form posts
# (a second line of defence behind the CSRF tokens), never readable by scripts.
# Set SESSION_COOKIE_SECURE=true when the server is reached over HTTPS only.
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = False
REMEMBER_COOKIE_SAMESITE = "Lax"
REMEMBER_COOKIE_HTTPONLY = True

# Login throttling: after this many failed logins for one username (from
# anywhere), or from one client address (for any usernames), further attempts
# are refused (429) until the window since the first failure has passed, even
# with the right password. Ten guesses per 15 minutes make guessing a
# password hopeless while a person mistyping theirs is not locked out.
LOGIN_MAX_FAILURES_PER_USERNAME = 10
LOGIN_MAX_FAILURES_PER_ADDRESS = 50
LOGIN_FAILURE_WINDOW_SECONDS = 900

# Notifications (flamenco/notifications/): webhooks and e-mail on job completed/failed/canceled.
# Webhook deliveries are retried with exponential back-off: the n-th retry waits
# WEBHOOK_RETRY_BASE_SECONDS * 2**(n-1), at most WEBHOOK_RETRY_MAX_SECONDS, and a
# delivery gives up after NOTIFICATION_MAX_ATTEMPTS attempts (30 s .. 1 h, 8 attempts:
# about 2 hours, enough to ride out a receiver's restart or short outage).
NOTIFICATION_MAX_ATTEMPTS = 8
WEBHOOK_RETRY_BASE_SECONDS = 30.0
WEBHOOK_RETRY_MAX_SECONDS = 3600.0
# Host names (shell patterns, e.g. "*.example.com", "10.0.0.7") webhooks may point
# at; empty allows any host. Set it when project admins must not reach internal
# services from the server's network (SSRF).
WEBHOOK_ALLOWED_HOSTS: list[str] = []
# E-mail through this SMTP server; an empty SMTP_HOST turns e-mail off.
SMTP_HOST = ""
SMTP_PORT = 25
SMTP_FROM = "flamenco@localhost"
SMTP_STARTTLS = False
SMTP_USERNAME = ""
SMTP_PASSWORD = ""
