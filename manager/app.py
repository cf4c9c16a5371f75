"""The Manager's WSGI application: worker API plus dashboard."""
from __future__ import annotations

import logging
import threading

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from flamenco_manager import metrics, openapi, scheduler
from flamenco_manager.api.errors import error_response
from flamenco_manager.api.worker_api import blueprint as worker_blueprint
from flamenco_manager.context import ManagerContext
from flamenco_manager.dashboard.views import blueprint as dashboard_blueprint

log = logging.getLogger(__name__)

# Largest request body accepted (413 beyond): a worker's log chunk is far smaller.
MAX_REQUEST_BYTES = 32 * 1024 * 1024


def create_app(ctx: ManagerContext) -> Flask:
    """A Flask app serving workers and the dashboard from ``ctx``."""
    app = Flask("flamenco_manager.dashboard")
    app.extensions["flamenco_manager"] = ctx
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.register_blueprint(worker_blueprint)
    app.register_blueprint(dashboard_blueprint)
    metrics.init_app(app)
    openapi.init_app(app)
    # Read the schedulable tasks now, so the first worker does not wait for it.
    threading.Thread(target=scheduler.candidate_cache(ctx).warm, args=(ctx,), daemon=True).start()
    if not ctx.config.worker_registration_secret:
        log.warning("worker_registration_secret is empty: anyone who can reach this manager may register a worker")

    @app.errorhandler(HTTPException)
    def http_error(ex: HTTPException) -> Response:
        return error_response(ex.code or 500, ex.description or ex.name)

    @app.errorhandler(Exception)
    def unexpected(ex: Exception) -> Response:
        log.exception("unexpected error")
        return error_response(500, f"internal error: {type(ex).__name__}")

    return app
