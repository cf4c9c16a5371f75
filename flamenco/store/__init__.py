"""The server's store access: where request code gets the database, and the collection names.

Eve adds ``data`` (its data layer) to the Flask app at runtime, so Flask's
type does not know it; this is the one place that reaches through it. Flask is
imported in the call, not here: Celery tasks and the CLI import
:mod:`flamenco.store.collections` without loading the web framework.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from pymongo.database import Database


def current_db() -> Database:
    """The running Eve app's database."""
    import flask

    return cast(Any, flask.current_app).data.driver.db
