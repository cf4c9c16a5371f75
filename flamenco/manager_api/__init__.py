"""The server's Manager-facing API: notifications, depsgraph, task updates,
task-log uploads and linking, wire-compatible with Flamenco Manager 2.x
(reference v2-server.md §5.3-§6). ``blueprint`` is registered by the app
factory when this package is present.
"""
from flamenco.manager_api import link_page
from flamenco.manager_api.routes import blueprint

__all__ = ["blueprint", "link_page"]
