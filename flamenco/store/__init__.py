"""The server's store access: where request code gets the database.

Eve adds ``data`` (its data layer) to the Flask app at runtime, so Flask's
type does not know it; this is the one place that reaches through it.
"""
from __future__ import annotations

from typing import Any, cast

import flask
from pymongo.database import Database


def current_db() -> Database:
    """The running Eve app's database."""
    return cast(Any, flask.current_app).data.driver.db
