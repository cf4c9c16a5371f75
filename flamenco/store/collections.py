"""The server's collection names, in one place.

Every module that touches a collection takes its name from here, so a rename
(or a second deployment sharing a database under a prefix) is one edit, and a
reader finds every user of a collection with one search.
"""
from __future__ import annotations

USERS = "users"
TOKENS = "tokens"
PROJECTS = "projects"
MANAGERS = "flamenco_managers"
JOBS = "flamenco_jobs"
TASKS = "flamenco_tasks"
TASK_LOGS = "flamenco_task_logs"
MANAGER_LINKING_KEYS = "flamenco_manager_linking_keys"
LAST_RENDERED = "flamenco_last_rendered"
