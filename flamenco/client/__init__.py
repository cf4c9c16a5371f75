"""Submission client: a Python API (``FlamencoClient``) and the ``flamenco submit``/``flamenco jobs`` CLI.

Users and tools (the CLI, scripts, the end-to-end tests) talk to the server
through this package only; the Blender add-on in ``addon/`` speaks the same
wire contract with urllib because Blender's Python may lack ``requests``.
"""
from flamenco.client.api import FlamencoClient, Page, Progress, Target, TaskSummary
from flamenco.client.errors import (APIError, AuthenticationError, FlamencoClientError, InvalidInput,
                                    NotFound, PermissionDenied, RequestRejected, ServerError,
                                    ServerUnreachable)
from flamenco.client.jobs import BlenderRenderJob

__all__ = [
    "APIError", "AuthenticationError", "BlenderRenderJob", "FlamencoClient", "FlamencoClientError",
    "InvalidInput", "NotFound", "Page", "PermissionDenied", "Progress", "RequestRejected",
    "ServerError", "ServerUnreachable", "Target", "TaskSummary",
]
