"""The server's OpenAPI 3 description, served at ``/api/openapi.json``.

Built from the running app: every route under ``/api`` (plus ``/metrics``)
becomes an operation. Eve resources are generated from their DOMAIN schemas
(``eve_paths``); PATCH operations from the registered op names; the other
custom routes (Manager API, linking) come from the hand-written table in
``custom``. A route with no entry still appears, marked undocumented, so the
description always lists everything a client (or a fuzzer) can reach.
"""
from __future__ import annotations

from typing import Iterator

import flask
from werkzeug.routing import Rule

from flamenco.openapi import custom, eve_paths
from flamenco_protocol.openapi import OPENAPI_VERSION, PathTable, error_schema, openapi_path, path_shape

TITLE = "Flamenco Server"
API_VERSION = "2.0"
# Only the REST API and the metrics endpoint are described; the dashboard's HTML routes are not an API.
DOCUMENTED_PREFIXES = ("/api/", "/metrics")
DESCRIPTION_PATH = "/api/openapi.json"
EXTENSION_KEY = "flamenco_openapi"
# Methods werkzeug adds by itself; not documented as operations.
IMPLICIT_METHODS = frozenset({"HEAD", "OPTIONS"})

blueprint = flask.Blueprint("flamenco_openapi", __name__)


@blueprint.get(DESCRIPTION_PATH)
def openapi_json() -> flask.Response:
    """The description; public, like Flamenco 3's, since it holds no data."""
    app = flask.current_app
    if EXTENSION_KEY not in app.extensions:
        app.extensions[EXTENSION_KEY] = build_description(app)
    return flask.jsonify(app.extensions[EXTENSION_KEY])


def build_description(app: flask.Flask) -> dict:
    """The whole OpenAPI document for ``app``'s current URL map."""
    domain = app.config["DOMAIN"]
    table = PathTable()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(DOCUMENTED_PREFIXES):
            continue
        for method in rule_methods(rule):
            table.add(rule.rule, method, operation_for(app, rule, method, openapi_path(rule.rule)))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": TITLE, "version": API_VERSION,
                 "description": "REST API of the Flamenco render-farm server and the API its Managers call "
                                "(wire-compatible with Flamenco 2)."},
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {"tokenBasic": []}],
        "paths": table.paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "An API token"},
                "tokenBasic": {"type": "http", "scheme": "basic",
                               "description": "The token as user name, empty password (what Managers send)"},
            },
            "schemas": {"Error": error_schema()} | eve_paths.components(domain),
        },
    }


def rule_methods(rule: Rule) -> Iterator[str]:
    """The documented HTTP methods of a rule, lower-case as OpenAPI keys them."""
    for method in sorted((rule.methods or set()) - IMPLICIT_METHODS):
        yield method.lower()


def operation_for(app: flask.Flask, rule: Rule, method: str, path: str) -> dict:
    """The operation of one (rule, method): Eve, PATCH ops, hand-written, or undocumented."""
    resource, _, kind = rule.endpoint.partition("|")
    if kind == "resource":
        return eve_paths.resource_operations(resource, app.config["DOMAIN"][resource], method,
                                             app.config["PAGINATION_LIMIT"])
    if kind == "item_lookup":
        return eve_paths.item_operations(resource, method)
    handwritten = custom.OPERATIONS.get((method, path_shape(path)))
    if handwritten is not None:
        return dict(handwritten)
    patch_ops = getattr(app.view_functions.get(rule.endpoint), "__self__", None)
    if method == "patch" and patch_ops is not None and hasattr(patch_ops, "ops"):
        return custom.patch_operation(patch_ops.collection, list(patch_ops.ops))
    # No schema: the description promises nothing about a route it does not know.
    return {"operationId": rule.endpoint.replace(".", "_"), "summary": "Undocumented route",
            "responses": {"default": {"description": "Not described yet"}}}


def init_app(app: flask.Flask) -> None:
    """Register the blueprint (for apps that prefer an init function)."""
    app.register_blueprint(blueprint)
