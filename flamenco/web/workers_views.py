"""The farm-wide Workers page: every worker of every Manager the user may see, with actions.

The page itself is a shell; its script polls the worker registry's REST
list (``flamenco.workers.routes``) every :data:`POLL_SECONDS` and redraws
the rows, so a worker falling asleep or going silent shows without a
reload. Managers report their workers every few seconds, so polling faster
would show nothing new. Actions go to the same REST API (POST, with the
session's CSRF token).
"""
from __future__ import annotations

import flask

from flamenco.web import access
from flamenco.workers import defaults as worker_defaults

bp = flask.Blueprint("workers", __name__, url_prefix="/workers")

POLL_SECONDS = 3


@bp.route("/")
@access.login_required
def worker_list() -> flask.typing.ResponseReturnValue:
    return flask.render_template(
        "workers.html", workers_url=flask.url_for("workers.workers_api.list_workers"),
        actions_url_template=flask.url_for("workers.workers_api.queue_action", manager_id="MANAGER", worker_id="WORKER"),
        poll_ms=POLL_SECONDS * 1000, offline_after_seconds=int(worker_defaults.OFFLINE_AFTER_SECONDS))
