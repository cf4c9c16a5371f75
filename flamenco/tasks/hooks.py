"""Eve hooks of ``flamenco_tasks``: listings and items scoped to the caller."""
from __future__ import annotations

import eve
import flask

from flamenco.auth import scoping
from flamenco.store import current_db


def on_pre_get(request: flask.Request, lookup: dict) -> None:
    user = scoping.require_user()
    scoping.restrict(lookup, scoping.project_scoped_filter(current_db(), user))


def setup_app(app: eve.Eve) -> None:
    app.on_pre_GET_flamenco_tasks += on_pre_get
