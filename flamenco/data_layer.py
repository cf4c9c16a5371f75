"""Eve's MongoDB data layer, with per-caller field projections.

Fields some callers may not read (:func:`flamenco.auth.fields.hidden_fields`,
such as a task's ``log`` without ``flamenco-view-logs``) are left out of the
database projection of every Eve read, item and list alike, whatever
``?projection=`` the client asks for: they never leave the database for
those callers, so no response hook can forget to strip them.
"""
from __future__ import annotations

from typing import Any

import flask
from eve.io.mongo import Mongo

from flamenco.auth import current_user
from flamenco.auth import fields as access_fields


class FlamencoMongo(Mongo):
    """``Eve(data=FlamencoMongo)``: Eve's Mongo layer minus the caller's hidden fields."""

    def _datasource_ex(self, resource: str, *args: Any, **kwargs: Any) -> tuple:
        datasource, query, fields, sort = super()._datasource_ex(resource, *args, **kwargs)
        user = current_user() if flask.has_request_context() else None
        hidden = access_fields.hidden_fields(resource, user)
        if hidden and fields:
            # Eve's projections are inclusive and always keep _id: removing a field hides it.
            fields = {name: value for name, value in fields.items() if name.split(".", 1)[0] not in hidden}
        elif hidden:
            # No projection at all (allow_unknown resources): exclude the hidden fields.
            fields = {name: 0 for name in hidden}
        return datasource, query, fields, sort
