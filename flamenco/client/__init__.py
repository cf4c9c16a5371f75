"""Submission client: a Python API (``FlamencoClient``) and the ``flamenco submit``/``flamenco jobs`` CLI.

Users and tools (the CLI, scripts, the end-to-end tests) talk to the server
through this package only; the Blender add-on in ``addon/`` speaks the same
wire contract with urllib because Blender's Python may lack ``requests``.

Example::

    from flamenco.client import BlenderRenderJob, FlamencoClient

    with FlamencoClient("http://127.0.0.1:8080", token) as client:
        job = BlenderRenderJob(filepath="/shared/shot.blend", frames="1-12", chunk_size=4,
                               render_output="/shared/render/shot/frames-######")
        created = client.submit_blender_render(job, client.resolve_target())
        print(client.wait_for_job(created["_id"]).job["status"])
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
