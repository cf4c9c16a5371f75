"""OpenAPI operations for the Eve resources, generated from their DOMAIN entries.

Each resource yields its list and item operations (only the methods the
resource enables), with Eve's query parameters, its ``_items``/``_meta``
envelope, conditional requests (``If-Match``/``If-None-Match``) and the
field schemas translated from Cerberus.
"""
from __future__ import annotations

from typing import Mapping

from flamenco.openapi import cerberus
from flamenco_protocol.openapi import error_response, json_content, response

# Eve adds these to every stored document.
META_FIELDS = {
    "_id": cerberus.OBJECT_ID,
    "_etag": {"type": "string"},
    "_created": cerberus.DATETIME,
    "_updated": cerberus.DATETIME,
}
# Standard answers of every authenticated Eve operation.
AUTH_ERRORS = {"401": error_response("No valid token"), "403": error_response("Not allowed for this caller")}


def schema_name(resource: str) -> str:
    """``flamenco_jobs`` -> ``FlamencoJobs``: the component name of a resource's documents."""
    return "".join(part.capitalize() for part in resource.split("_"))


def components(domain: Mapping[str, dict]) -> dict[str, dict]:
    """A document schema (as stored and returned) and an input schema per resource."""
    out = {}
    for resource, settings in domain.items():
        name = schema_name(resource)
        document = cerberus.object_schema(settings.get("schema", {}), for_response=True)
        document["properties"] = dict(META_FIELDS) | document["properties"]
        out[name] = document
        if "POST" in settings.get("resource_methods", ()):
            out[name + "Input"] = cerberus.object_schema(settings.get("schema", {}), skip_readonly=True,
                                                         allow_unknown=settings.get("allow_unknown", False))
    return out


def list_parameters(max_results: int) -> list[dict]:
    """Eve's listing query: filter, order, fields, paging."""
    return [
        {"name": "where", "in": "query", "schema": {"type": "string"},
         "description": 'MongoDB filter as JSON, e.g. {"status": "queued"}; operators such as $regex are refused'},
        {"name": "sort", "in": "query", "schema": {"type": "string"},
         "description": 'Fields to sort on, e.g. -_updated or [("priority", -1)]'},
        {"name": "projection", "in": "query", "schema": {"type": "string"},
         "description": 'Fields to return as JSON, e.g. {"name": 1}'},
        {"name": "max_results", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": max_results}},
        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    ]


def list_envelope(item_ref: str) -> dict:
    return {
        "type": "object",
        "properties": {
            "_items": {"type": "array", "items": {"$ref": item_ref}},
            "_meta": {"type": "object", "properties": {"page": {"type": "integer"},
                                                       "max_results": {"type": "integer"},
                                                       "total": {"type": "integer"}}},
        },
        "required": ["_items"],
    }


def resource_operations(resource: str, settings: Mapping, method: str, max_results: int) -> dict:
    """The operation for ``method`` on the resource's list URL."""
    name = schema_name(resource)
    ref = f"#/components/schemas/{name}"
    if method == "get":
        return {
            "operationId": f"list_{resource}", "tags": [resource], "summary": f"List {resource} visible to the caller",
            "parameters": list_parameters(max_results),
            "responses": {"200": response("One page of documents", list_envelope(ref)),
                          "400": error_response("Malformed query (where, projection, ObjectId)"),
                          **AUTH_ERRORS, "default": error_response("Error")},
        }
    return {
        "operationId": f"create_{resource}", "tags": [resource], "summary": f"Create a {resource} document",
        "requestBody": {"required": True, "content": json_content({"$ref": f"{ref}Input"})},
        "responses": {
            "201": response("Created", {"type": "object", "properties": {
                "_id": cerberus.OBJECT_ID, "_etag": {"type": "string"}, "_status": {"type": "string"},
                "_created": cerberus.DATETIME, "_updated": cerberus.DATETIME}}),
            "400": error_response("Body is not a JSON object"),
            "422": error_response("Validation failed; _issues names each field and the reason"),
            **AUTH_ERRORS, "default": error_response("Error"),
        },
    }


def item_operations(resource: str, method: str) -> dict:
    """The operation for ``method`` on the resource's item URL."""
    ref = f"#/components/schemas/{schema_name(resource)}"
    if method == "get":
        return {
            "operationId": f"get_{resource}", "tags": [resource], "summary": f"One {resource} document",
            "parameters": [{"name": "If-None-Match", "in": "header", "schema": {"type": "string"}}],
            "responses": {"200": response("The document", {"$ref": ref}),
                          "304": response("Not modified since the given ETag"),
                          **AUTH_ERRORS, "404": error_response("No such document visible to the caller"),
                          "default": error_response("Error")},
        }
    return {
        "operationId": f"delete_{resource}", "tags": [resource], "summary": f"Delete a {resource} document",
        "parameters": [{"name": "If-Match", "in": "header", "required": True, "schema": {"type": "string"},
                        "description": "The document's current _etag"}],
        "responses": {"204": response("Deleted"), **AUTH_ERRORS,
                      "404": error_response("No such document visible to the caller"),
                      "409": error_response("The document may not be deleted in its status"),
                      "412": error_response("ETag does not match"), "428": error_response("If-Match missing"),
                      "default": error_response("Error")},
    }
