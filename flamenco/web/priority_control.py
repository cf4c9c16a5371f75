"""The inline priority control of the job list and job page (``_job_priority.html``, ``modules/priority.js``).

The control saves through the REST API's ``set-job-priority`` PATCH op, which
owns the rules (range, no change once a job is archived or under
construction: 409); the templates only need the same limits, so that the
input offers the allowed range and frozen jobs show a plain number. The
change reaches every open page through the job event the op emits.
"""
from __future__ import annotations

import flask

from flamenco import status
from flamenco.defaults import JOB_PRIORITY_MAX, JOB_PRIORITY_MIN

bp = flask.Blueprint("priority", __name__)


@bp.app_context_processor
def priority_limits() -> dict:
    return {"priority_limits": {"min": JOB_PRIORITY_MIN, "max": JOB_PRIORITY_MAX,
                                "frozen": status.PRIORITY_FROZEN_JOB_STATES}}
