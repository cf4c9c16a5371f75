"""The notifications' routes as one blueprint (REST API and dashboard page).

``FlamencoExtension`` registers it when this package is installed; registering
also creates the collections' indexes, once per app.
"""
from __future__ import annotations

import flask

from flamenco.store import current_db
from flamenco.notifications import deliveries, routes, views

blueprint = flask.Blueprint("notifications", __name__)
blueprint.register_blueprint(routes.blueprint)
blueprint.register_blueprint(views.blueprint)


@blueprint.record_once
def _create_indexes(state: flask.blueprints.BlueprintSetupState) -> None:
    app = state.app
    assert isinstance(app, flask.Flask)
    with app.app_context():
        deliveries.ensure_indexes(current_db())
