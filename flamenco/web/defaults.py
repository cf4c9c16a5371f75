"""Every default of the web dashboard in one place."""
from __future__ import annotations

from pathlib import Path

from flamenco_protocol.statuses import JobStatus

# gulp builds src/ into this folder (gitignored); templates and assets come from there.
DIST_DIR = Path(__file__).resolve().parent.parent / "static" / "dist"
TEMPLATES_DIR = DIST_DIR / "templates"
ASSETS_DIR = DIST_DIR / "assets"
# Served under its own prefix so it never collides with the app's /static.
ASSETS_URL_PATH = "/dashboard-static"

# A laptop screen shows about this many rows; more makes the page slower on
# the local store, which decodes every returned document in Go
# (flamenco.store: scan).
JOB_PAGE_SIZE = 50
TASK_PAGE_SIZE = 50
# The job list's choice of sort keys (a whitelist: never sort on user input).
JOB_SORT_FIELDS = ("_updated", "_created", "name", "priority", "status", "job_type")
JOB_SORT_DEFAULT = "-_updated"
# Jobs with this status only show when the filter asks for it (Flamenco 2 had a
# separate "archive" list for them).
HIDDEN_BY_DEFAULT_STATUSES = (JobStatus.ARCHIVED,)
# How many parents/children the dependency graph shows at most; bigger jobs
# show the graph around the requested task only.
DEPSGRAPH_MAX_NODES = 400
# One page of a task log on the task page ("load earlier" fetches the next):
# a screenful of scrolling, never a whole 100 MB log in one response.
LOG_PAGE_MAX_CHARS = 64 * 1024
# While a task runs, its page also asks for new log lines this often, in case
# a (best-effort) live event was missed; live events ask sooner.
LOG_POLL_MS = 10_000
