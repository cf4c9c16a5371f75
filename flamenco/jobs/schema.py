"""Eve resource ``flamenco_jobs`` (``/api/flamenco/jobs``), fields of reference §2.2.

POST submits a job (``flamenco.jobs.hooks`` validates, compiles and flips it);
changes go through PATCH operations (``flamenco.jobs.patch``); DELETE removes
a finished job with its tasks and logs.
"""
from flamenco import defaults
from flamenco.jobs import dependencies
from flamenco.store.collections import JOBS
from flamenco_protocol import requirements
from flamenco_protocol.statuses import JobStatus

# Reference §2.2: the 13 job statuses plus the transient `requeued`, and our `waiting-for-jobs`
# (plain strings: the schema is also published as OpenAPI).
JOB_STATUSES = [s.value for s in JobStatus]

RESOURCE = {
    "url": "flamenco/jobs",
    "datasource": {"source": JOBS, "default_sort": [("_created", -1)]},
    "resource_methods": ["GET", "POST"],
    "item_methods": ["GET", "DELETE"],
    "mongo_indexes": {
        "project": [("project", 1)],
        # The dashboard's job list: a project's jobs, most recently changed first.
        "project_updated": [("project", 1), ("_updated", -1)],
        "manager_status": [("manager", 1), ("status", 1)],
        "status": [("status", 1)],
        # The jobs waiting for a job that just finished (flamenco.jobs.dependencies).
        "depends_on": [("depends_on", 1)],
    },
    "schema": {
        "name": {"type": "string", "required": True, "empty": False, "maxlength": 256},
        "job_type": {"type": "string", "required": True, "empty": False, "maxlength": 64},
        "description": {"type": "string", "maxlength": 4096},
        "project": {"type": "objectid", "required": True},
        # Filled in with the caller when absent; must be the caller when given.
        "user": {"type": "objectid"},
        "manager": {"type": "objectid", "required": True},
        "status": {"type": "string", "allowed": JOB_STATUSES, "default": JobStatus.UNDER_CONSTRUCTION.value},
        # Written by the server (flamenco.status) with every status change.
        "status_reason": {"type": "string", "readonly": True},
        "start_paused": {"type": "boolean", "default": False},
        "priority": {"type": "integer", "min": defaults.JOB_PRIORITY_MIN, "max": defaults.JOB_PRIORITY_MAX,
                     "default": defaults.JOB_PRIORITY_DEFAULT},
        "settings": {"type": "dict", "allow_unknown": True, "default": {}},
        # Jobs of the same project that must complete before this one runs (flamenco.jobs.dependencies).
        "depends_on": {"type": "list", "maxlength": defaults.JOB_MAX_DEPENDENCIES, "schema": {"type": "objectid"}},
        # What a dependency that failed or was canceled does to this job: fail it too, or keep it waiting.
        "on_dependency_failure": {"type": "string", "allowed": list(dependencies.FAILURE_POLICIES),
                                  "default": dependencies.DEFAULT_FAILURE_POLICY},
        # What a worker needs to run the job's tasks: tags, minimum CPU cores/RAM/GPU (flamenco_protocol.requirements).
        "requirements": {"type": "dict", "schema": requirements.EVE_SCHEMA},
        "archive_blob_name": {"type": "string", "readonly": True},
        "pre_archive_status": {"type": "string", "readonly": True},
        # When a Manager last uploaded the job's preview image (flamenco.manager_api.last_rendered).
        "last_rendered": {"type": "datetime", "readonly": True},
    },
}
