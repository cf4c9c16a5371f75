"""The worker registry's routes as one blueprint; registering it creates the indexes, once per app."""
from __future__ import annotations

import flask

from flamenco.store import current_db
from flamenco.workers import registry, routes

blueprint = flask.Blueprint("workers", __name__)
blueprint.register_blueprint(routes.blueprint)


@blueprint.record_once
def _create_indexes(state: flask.blueprints.BlueprintSetupState) -> None:
    app = state.app
    assert isinstance(app, flask.Flask)
    with app.app_context():
        registry.ensure_indexes(current_db())
