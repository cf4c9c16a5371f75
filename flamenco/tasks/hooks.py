"""Eve hooks of ``flamenco_tasks``: listings and items scoped to the caller."""
from __future__ import annotations

import flask

from flamenco.auth import scoping


def on_pre_get(request: flask.Request, lookup: dict) -> None:
    user = scoping.require_user()
    scoping.restrict(lookup, scoping.project_scoped_filter(flask.current_app.data.driver.db, user))


def setup_app(app: flask.Flask) -> None:
    app.on_pre_GET_flamenco_tasks += on_pre_get
