"""Eve hooks of ``users``: only safe fields leave the server; e-mail only for oneself."""
from __future__ import annotations

import flask

from flamenco.auth import current_user
from flamenco.users import SECRET_FIELDS


def _redact(doc: dict) -> None:
    for field in SECRET_FIELDS:
        doc.pop(field, None)
    user = current_user()
    if user is not None and not user.is_superuser and doc.get("_id") != user.user_id:
        doc.pop("email", None)


def on_fetched_resource(response: dict) -> None:
    for doc in response.get("_items", ()):
        _redact(doc)


def on_fetched_item(doc: dict) -> None:
    _redact(doc)


def setup_app(app: flask.Flask) -> None:
    app.on_fetched_resource_users += on_fetched_resource
    app.on_fetched_item_users += on_fetched_item
