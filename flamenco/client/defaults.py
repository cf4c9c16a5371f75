"""Every default of the submission client and the ``flamenco submit``/``flamenco jobs`` CLI.

Environment variables (read by the CLI only; the Python client takes explicit
arguments) are named here too, so ``--help`` and the docs agree.
"""
from __future__ import annotations

ENV_SERVER = "FLAMENCO_SERVER"
ENV_TOKEN = "FLAMENCO_TOKEN"
ENV_PROJECT = "FLAMENCO_PROJECT"
ENV_MANAGER = "FLAMENCO_MANAGER"

# Where `flamenco farm` and a development server listen (flamenco.defaults HOST/PORT).
SERVER_URL = "http://127.0.0.1:8080"
# Prefix of the Flamenco extension's Eve resources (reference v2-server.md §5.1).
API_PREFIX = "/api/flamenco"

# Seconds to wait for the server to connect/answer. A job POST compiles its
# tasks in the request (reference §3.7), so reading gets much longer than connecting.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 120.0

# Eve's page size cap on this server (flamenco.defaults.PAGINATION_LIMIT);
# fetching whole pages keeps the number of round-trips low.
PAGE_SIZE = 250
# Newest jobs first. Eve stores `_created` to the second, so `_id` (which
# grows with time) orders jobs submitted within the same second.
JOB_SORT = "-_created,-_id"
# `flamenco jobs list` shows this many jobs unless told otherwise.
LIST_LIMIT = 25

# Seconds between two polls of a watched job: frequent enough for a live bar,
# rare enough that a task count (a scan on the local store, flamenco.store:
# count) does not load the server.
WATCH_INTERVAL = 2.0

# Blender-render job defaults (reference §4.5). Five frames per task amortises
# Blender's start-up on each worker without starving a small farm of tasks.
CHUNK_SIZE = 5
IMAGE_FORMAT = "PNG"
FPS = 24.0
PRIORITY = 50
PRIORITY_MIN = 1
PRIORITY_MAX = 100
JOB_TYPE_BLENDER_RENDER = "blender-render"

# Job dependencies (server: flamenco.jobs.dependencies): a job may wait for at most
# this many jobs; when one of them fails or is canceled the waiting job fails too
# ("fail") or keeps waiting until it is requeued and completes ("wait").
MAX_DEPENDENCIES = 32
DEPENDENCY_FAILURE_POLICIES = ("fail", "wait")
ON_DEPENDENCY_FAILURE = "fail"
