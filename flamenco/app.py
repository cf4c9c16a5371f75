"""The server application: ``create_app(config)`` builds the Eve app.

Order matters and mirrors Pillar's start-up (reference v2-server.md §1.1):
configuration, Eve with every extension's resources, authentication, error
handling, then each extension's blueprints and ``setup_app`` (hooks, indexes).
"""
from __future__ import annotations

import json
import os
from typing import Any, Mapping

import flask
from eve import Eve
from eve.auth import BasicAuth

from flamenco import auth, defaults, errors, eve_hooks, eve_settings, request_guard, security_headers
from flamenco.data_layer import FlamencoMongo
from flamenco.extension import Extension, FlamencoExtension, subscribe_listeners
from flamenco.projects import hooks as project_hooks
from flamenco.projects import patch as project_patch
from flamenco.projects import schema as projects_schema
from flamenco.users import hooks as user_hooks
from flamenco.users import schema as users_schema

# Config keys create_app accepts from defaults.py (and so from the environment).
CONFIG_KEYS = tuple(k for k in dir(defaults) if k.isupper())


class TokenAuth(BasicAuth):
    """Eve auth: a request must carry a valid token or session (else 401).

    Who may see or change what is decided by the resources' hooks;
    ``flamenco.auth.load_current_user`` has already identified the caller.
    """

    def authorized(self, allowed_roles: Any, resource: str, method: str) -> bool:  # Eve's signature
        return auth.current_user() is not None

    def authenticate(self) -> None:
        errors.abort(401, "authentication required: send a token as 'Authorization: Bearer <token>'",
                     headers={"WWW-Authenticate": 'Bearer realm="flamenco"'})


def load_config(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, overridden by same-named environment variables, then by ``config``.

    Environment values are JSON-parsed when the default is not a string, so
    ``PORT=9000`` or ``CELERY_ENABLED=false`` have the right type.
    """
    result: dict[str, Any] = {k: getattr(defaults, k) for k in CONFIG_KEYS}
    for key in CONFIG_KEYS:
        raw = os.environ.get(key)
        if raw is None:
            continue
        default = result[key]
        if isinstance(default, str):
            result[key] = raw
        else:
            try:
                result[key] = json.loads(raw)
            except ValueError as ex:
                raise ValueError(f"environment variable {key}={raw!r} is not valid JSON: {ex}") from None
    result.update(config or {})
    return result


def mongo_client_options(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for every MongoClient of the server and its Celery
    workers: fail fast (503) when the store is unreachable, see defaults.py."""
    return {"serverSelectionTimeoutMS": int(cfg["MONGO_SERVER_SELECTION_TIMEOUT_MS"]),
            "connectTimeoutMS": int(cfg["MONGO_CONNECT_TIMEOUT_MS"]),
            "tz_aware": True}


def core_resources() -> dict[str, dict]:
    """Eve resources every server has, whatever extensions are loaded."""
    return {"projects": projects_schema.RESOURCE, "users": users_schema.RESOURCE}


def create_app(config: Mapping[str, Any] | None = None,
               extensions: list[Extension] | None = None) -> flask.Flask:
    """Build the server: an Eve app with the core resources and ``extensions``
    (default: the Flamenco extension)."""
    cfg = load_config(config)
    extensions = [FlamencoExtension()] if extensions is None else extensions
    domain = core_resources()
    for ext in extensions:
        domain.update(ext.eve_resources())
    settings = eve_settings.settings() | {
        "MONGO_URI": cfg["MONGO_URI"], "DOMAIN": domain,
        "MONGO_OPTIONS": eve_settings.MONGO_OPTIONS | mongo_client_options(cfg),
    }

    app = Eve(import_name="flamenco", settings=settings, auth=TokenAuth, data=FlamencoMongo)
    app.config.update(cfg)
    app.config["FLAMENCO_EXTENSIONS"] = {ext.name: ext for ext in extensions}

    auth.setup_app(app)
    request_guard.setup_app(app)
    security_headers.setup_app(app)
    app.register_error_handler(Exception, errors.handle_unexpected)
    for code in app.config["STANDARD_ERRORS"]:
        app.register_error_handler(code, errors.handle_http_exception)
    app.after_request(errors.normalise_error_body)
    app.on_pre_GET += eve_hooks.check_query_args
    app.on_pre_POST += eve_hooks.check_post_body

    user_hooks.setup_app(app)
    project_hooks.setup_app(app)
    app.register_blueprint(project_patch.blueprint)
    for ext in extensions:
        for bp in ext.blueprints():
            app.register_blueprint(bp)
        ext.setup_app(app)
    subscribe_listeners(extensions)
    return app


def web_links(app: flask.Flask) -> list:
    """All extensions' dashboard links, in load order."""
    return [link for ext in app.config["FLAMENCO_EXTENSIONS"].values() for link in ext.web_links()]
