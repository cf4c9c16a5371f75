"""Hand-written operations for the server's routes that are not plain Eve resources.

Keyed by (method, path shape): the path with parameter names erased, so an
entry matches the route whatever its author named the placeholders. An
entry is only published when the app really serves that route, so the
description never promises an endpoint that a deployment lacks (the Manager
API, for one, is a separate module that may be absent).
"""
from __future__ import annotations

from flamenco import defaults
from flamenco.jobs.schema import JOB_STATUSES
from flamenco.openapi.cerberus import OBJECT_ID
from flamenco.tasks.schema import TASK_STATUSES
from flamenco_protocol.openapi import error_response, json_content, response

# Fields each PATCH operation takes besides ``op`` (reference v2-server.md §5.2).
PATCH_OP_FIELDS: dict[str, dict[str, dict]] = {
    "set-job-status": {"status": {"type": "string", "enum": JOB_STATUSES}},
    "set-job-priority": {"priority": {"type": "integer", "minimum": defaults.JOB_PRIORITY_MIN,
                                      "maximum": defaults.JOB_PRIORITY_MAX}},
    "construct": {"settings": {"type": "object"}},
    "recreate": {},  # no fields: the job's tasks and logs are deleted and it is compiled again
    "set-dependencies": {"depends_on": {"type": "array", "items": OBJECT_ID,
                                        "description": "jobs of the same project to complete first"}},
    "rna-overrides": {"rna_overrides": {"type": "array", "items": {"type": "string"},
                                        "description": "Python lines run in Blender before rendering"}},
    "set-task-status": {"status": {"type": "string", "enum": TASK_STATUSES}},
    "request-task-log-file": {"force_rerequest": {"type": "boolean"}},
    "assign-to-project": {"project": OBJECT_ID},
    "remove-from-project": {"project": OBJECT_ID},
    "edit-from-web": {"name": {"type": "string", "minLength": 1, "maxLength": 128},
                      "description": {"type": "string", "maxLength": 1024}},
    "change-ownership": {"action": {"type": "string", "enum": ["share", "unshare"]}, "user": OBJECT_ID},
}
# Fields of an operation that it cannot do without.
PATCH_OP_REQUIRED = {"set-job-status": ["status"], "set-job-priority": ["priority"], "set-dependencies": ["depends_on"],
                     "rna-overrides": ["rna_overrides"], "set-task-status": ["status"],
                     "assign-to-project": ["project"], "remove-from-project": ["project"],
                     "change-ownership": ["action", "user"]}

_DEFAULT = {"default": error_response("Error")}
_AUTH = {"401": error_response("No valid token"), "403": error_response("Not allowed for this caller")}
_MANAGER_AUTH = {"401": error_response("Not this Manager's service account"),
                 "403": error_response("Not a Manager service account"),
                 "404": error_response("No such Manager")}
_PUBLIC: list = []


def patch_operation(resource: str, op_names: list[str]) -> dict:
    """``PATCH <item>`` with ``{"op": name, ...}``: one body variant per operation."""
    variants = []
    for name in sorted(op_names):
        fields = PATCH_OP_FIELDS.get(name, {})
        variant = {"type": "object", "properties": {"op": {"type": "string", "enum": [name]}, **fields},
                   "required": ["op", *PATCH_OP_REQUIRED.get(name, [])]}
        variants.append(variant)
    return {
        "operationId": f"patch_{resource}", "tags": [resource],
        "summary": f"Change a {resource} document through a named operation",
        "requestBody": {"required": True, "content": json_content({"oneOf": variants})},
        "responses": {"204": response("Done"), "200": response("Done, with a result", {"type": "object"}),
                      "400": error_response("Missing or unknown op, or a body that is not a JSON object"),
                      **_AUTH, "404": error_response("No such document visible to the caller"),
                      "409": error_response("Not allowed in the document's current status"),
                      "422": error_response("Invalid value; _issues names the field"), **_DEFAULT},
    }


_NOTIFICATION = {
    "type": "object",
    "properties": {
        "_meta": {"type": "object", "properties": {"version": {"type": "integer"}}},
        "manager_url": {"type": "string"},
        "variables": {"type": "object"},
        "path_replacement": {"type": "object"},
        "nr_of_workers": {"type": "integer", "minimum": 0},
        "worker_task_types": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["manager_url", "variables", "nr_of_workers"],
}
_TASK_UPDATE = {
    "type": "object",
    "properties": {
        "_id": OBJECT_ID, "task_id": OBJECT_ID,
        "task_status": {"type": "string", "enum": TASK_STATUSES},
        "activity": {"type": "string"}, "log": {"type": "string"}, "log_tail": {"type": "string"},
        "task_progress_percentage": {"type": "integer"}, "current_command_index": {"type": "integer"},
        "command_progress_percentage": {"type": "integer"}, "worker": {"type": "string"},
        "received_on_manager": {"type": "string", "description": "ISO-8601 time"},
        "metrics": {"type": "object", "properties": {"timing": {"type": "object"}}},
        "failed_by_workers": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "string"}, "identifier": {"type": "string"}}}},
    },
    "required": ["_id", "task_id"],
}
_TASK_UPDATE_RESPONSE = {
    "type": "object",
    "properties": {
        "modified_count": {"type": "integer"},
        "handled_update_ids": {"type": "array", "items": {"type": "string"}},
        "cancel_task_ids": {"type": "array", "items": {"type": "string"}},
        "upload_task_file_queue": {"type": "array", "items": {"type": "object", "properties": {
            "job": {"type": "string"}, "task": {"type": "string"}}}},
    },
    "required": ["modified_count", "handled_update_ids"],
}

# (method, path shape) -> operation.
OPERATIONS: dict[tuple[str, str], dict] = {
    ("get", "/api/"): {
        "operationId": "api_home", "tags": ["meta"], "summary": "Eve's API root (empty: HATEOAS is off)",
        "responses": {"200": response("Empty object", {"type": "object"}), **_DEFAULT},
    },
    ("get", "/api/openapi.json"): {
        "operationId": "openapi", "tags": ["meta"], "summary": "This description", "security": _PUBLIC,
        "responses": {"200": response("OpenAPI 3 description", {"type": "object"})},
    },
    ("get", "/metrics"): {
        "operationId": "metrics", "tags": ["meta"], "summary": "Prometheus metrics (text format)",
        "responses": {"200": {"description": "Prometheus text exposition",
                              "content": {"text/plain": {"schema": {"type": "string"}}}},
                      "401": error_response("No valid token"),
                      "403": error_response("The token's account lacks the flamenco-metrics capability"),
                      **_DEFAULT},
    },
    ("post", "/api/flamenco/managers/{}/startup"): {
        "operationId": "manager_startup", "tags": ["manager-api"], "summary": "Manager start-up notification",
        "requestBody": {"required": True, "content": json_content(_NOTIFICATION)},
        "responses": {"204": response("Stored"), "400": error_response("Missing or invalid key"),
                      **_MANAGER_AUTH, **_DEFAULT},
    },
    ("post", "/api/flamenco/managers/{}/update"): {
        "operationId": "manager_update", "tags": ["manager-api"], "summary": "Manager settings-changed notification",
        "requestBody": {"required": True, "content": json_content(_NOTIFICATION)},
        "responses": {"204": response("Stored"), "400": error_response("Missing or invalid key"),
                      **_MANAGER_AUTH, **_DEFAULT},
    },
    ("get", "/api/flamenco/managers/{}/depsgraph"): {
        "operationId": "manager_depsgraph", "tags": ["manager-api"],
        "summary": "Runnable tasks of this Manager; claims the queued ones",
        "parameters": [{"name": "X-Flamenco-If-Updated-Since", "in": "header", "schema": {"type": "string"},
                        "description": "ISO-8601 time of the last download: only tasks changed since"}],
        "description": ("One answer claims at most DEPSGRAPH_CLAIM_PAGE_TASKS (1,000) queued tasks, the most "
                        "urgent jobs first; when more wait it carries `X-Flamenco-More-Tasks: true`, and an "
                        "incremental download with its `X-Flamenco-Last-Updated` gets the next page. Flamenco 2 "
                        "Managers ignore the header and get the rest at their next download."),
        "responses": {"200": response("Tasks", {"type": "object", "properties": {
                          "depsgraph": {"type": "array", "items": {"type": "object"}}}}),
                      "204": response("No runnable jobs"), "304": response("Nothing changed since"),
                      "400": error_response("Malformed X-Flamenco-If-Updated-Since"),
                      **_MANAGER_AUTH, **_DEFAULT},
    },
    ("post", "/api/flamenco/managers/{}/task-update-batch"): {
        "operationId": "manager_task_update_batch", "tags": ["manager-api"],
        "summary": "Task updates from a Manager; each handled one is acknowledged by id",
        "requestBody": {"required": False, "content": json_content({"type": "array", "items": _TASK_UPDATE})},
        "responses": {"200": response("Acknowledgements and cancellations", _TASK_UPDATE_RESPONSE),
                      "400": error_response("Body is not a list of updates"),
                      "413": error_response("Too many updates in one batch"), **_MANAGER_AUTH, **_DEFAULT},
    },
    ("post", "/api/flamenco/managers/{}/attach-task-log/{}"): {
        "operationId": "manager_attach_task_log", "tags": ["manager-api"], "summary": "Upload a gzipped task log",
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "properties": {"logfile": {"type": "string", "format": "binary"}},
            "required": ["logfile"]}}}},
        "responses": {"201": response("Stored", {"type": "object"}), "200": response("Replaced", {"type": "object"}),
                      "400": error_response("Missing file or not gzipped"), **_MANAGER_AUTH, **_DEFAULT},
    },
    ("post", "/api/flamenco/managers/{}/last-rendered/{}"): {
        "operationId": "manager_last_rendered", "tags": ["manager-api"],
        "summary": "Upload the newest preview JPEG of one of this Manager's jobs",
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "properties": {"image": {"type": "string", "format": "binary"}},
            "required": ["image"]}}}},
        "responses": {"204": response("Stored"), "400": error_response("Missing file or not a JPEG"),
                      "413": error_response("Image too large"), **_MANAGER_AUTH, **_DEFAULT},
    },
    ("post", "/api/flamenco/managers/link/exchange"): {
        "operationId": "manager_link_exchange", "tags": ["manager-linking"], "security": _PUBLIC,
        "summary": "Step 1 of linking: store the Manager's secret key, get an identifier",
        "requestBody": {"required": True, "content": json_content({
            "type": "object", "properties": {"key": {"type": "string", "pattern": "^([0-9a-f]{2})+$"}},
            "required": ["key"]})},
        "responses": {"200": response("Identifier", {"type": "object", "properties": {"identifier": OBJECT_ID}}),
                      "400": error_response("No key given or malformed key"), **_DEFAULT},
    },
    ("post", "/api/flamenco/managers/link/reset-token"): {
        "operationId": "manager_link_reset_token", "tags": ["manager-linking"], "security": _PUBLIC,
        "summary": "Last step of linking: an HMAC-authenticated request for a fresh Manager token",
        "requestBody": {"required": True, "content": json_content({
            "type": "object", "properties": {"identifier": OBJECT_ID, "manager_id": OBJECT_ID,
                                             "padding": {"type": "string"}, "hmac": {"type": "string"}},
            "required": ["identifier", "manager_id", "padding", "hmac"]})},
        "responses": {"200": response("Token", {"type": "object", "properties": {
                          "token": {"type": "string"}, "expire_time": {"type": "string"}}}),
                      "400": error_response("Bad HMAC or no key exchanged"),
                      "404": error_response("Unknown Manager"), **_DEFAULT},
    },
}
