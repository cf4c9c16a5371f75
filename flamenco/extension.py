"""Pillar-style extensions: how features plug into the server.

An :class:`Extension` contributes Eve resource definitions, Flask blueprints,
Celery task modules, dashboard links and listeners on the event bus
(:mod:`flamenco.eventbus`, subscribed in the server and in Celery workers),
plus a ``setup_app`` step for hooks and indexes. ``flamenco.app.create_app`` collects them; the Flamenco
extension itself (:class:`FlamencoExtension`) is the render-farm feature set
on top of the core resources (users, projects).
"""
from __future__ import annotations

import dataclasses
import importlib
import logging
from typing import TYPE_CHECKING, Callable, Sequence

import flask

from flamenco import errors, eventbus
from flamenco.auth import scoping
from flamenco.store import current_db

if TYPE_CHECKING:
    from flamenco.auth import CurrentUser

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class WebLink:
    """A link the dashboard shows in its navigation."""

    title: str
    url: str


class Extension:
    """Base class of server extensions; override what the extension provides."""

    name: str = ""
    # Dotted module names Celery imports to find this extension's tasks.
    celery_task_modules: Sequence[str] = ()

    def eve_resources(self) -> dict[str, dict]:
        """Eve DOMAIN entries, keyed by resource name (``<name>_<thing>``)."""
        return {}

    def blueprints(self) -> list[flask.Blueprint]:
        """Blueprints to register; each carries its own ``url_prefix``."""
        return []

    def web_links(self) -> list[WebLink]:
        """Navigation links for the dashboard."""
        return []

    def setup_app(self, app: flask.Flask) -> None:
        """Register Eve hooks, create indexes; runs once the Eve app exists."""

    def event_listeners(self) -> list[eventbus.Listener]:
        """What reacts to job and task changes, wherever they happen (server or Celery)."""
        return []


def subscribe_listeners(extensions: Sequence[Extension]) -> None:
    """Subscribe every extension's event listeners (idempotent: apps are built many times in tests)."""
    for ext in extensions:
        for listener in ext.event_listeners():
            eventbus.subscribe(listener)


def optional_blueprint(module_name: str) -> flask.Blueprint | None:
    """The ``blueprint`` of ``module_name`` (a module, or a package whose
    ``blueprint`` attribute or submodule holds it), or None if not installed.

    Lets parts written separately (Manager API, dashboard) plug in when present.
    """
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as ex:
        if ex.name and module_name.startswith(ex.name):
            return None
        raise
    candidate = getattr(module, "blueprint", None)
    if candidate is not None and not isinstance(candidate, flask.Blueprint):
        candidate = getattr(candidate, "blueprint", None)
    if candidate is None:
        try:
            sub = importlib.import_module(module_name + ".blueprint")
        except ModuleNotFoundError:
            return None
        candidate = getattr(sub, "blueprint", None)
    return candidate if isinstance(candidate, flask.Blueprint) else None


class FlamencoExtension(Extension):
    """Render management: managers, jobs, tasks, task logs and their API.

    The resource packages are imported inside the methods because their PATCH
    modules build on :class:`PatchOps` from this module.
    """

    name = "flamenco"
    celery_task_modules = ("flamenco.celery", "flamenco.notifications.tasks")
    # Blueprints written by other parts; registered when their module exists:
    # Manager-facing API, dashboard, OpenAPI description, Prometheus metrics, notifications, worker registry,
    # Manager settings changed on the server.
    OPTIONAL_BLUEPRINTS = ("flamenco.manager_api", "flamenco.web", "flamenco.openapi", "flamenco.metrics",
                           "flamenco.notifications", "flamenco.workers", "flamenco.managers.settings_routes")

    def eve_resources(self) -> dict[str, dict]:
        from flamenco.jobs import schema as jobs_schema
        from flamenco.managers import schema as managers_schema
        from flamenco.task_logs import schema as task_logs_schema
        from flamenco.tasks import schema as tasks_schema

        return {
            "flamenco_managers": managers_schema.RESOURCE,
            "flamenco_jobs": jobs_schema.RESOURCE,
            "flamenco_tasks": tasks_schema.RESOURCE,
            "flamenco_task_logs": task_logs_schema.RESOURCE,
        }

    def blueprints(self) -> list[flask.Blueprint]:
        from flamenco.jobs.patch import blueprint as jobs_patch
        from flamenco.managers.patch import blueprint as managers_patch
        from flamenco.tasks.patch import blueprint as tasks_patch

        found = [jobs_patch, tasks_patch, managers_patch]
        for module_name in self.OPTIONAL_BLUEPRINTS:
            bp = optional_blueprint(module_name)
            if bp is not None:
                found.append(bp)
        return found

    def web_links(self) -> list[WebLink]:
        return [WebLink("Render Management", "/flamenco/")]

    def event_listeners(self) -> list[eventbus.Listener]:
        """The dashboard's live feed (when installed), notifications, and releasing jobs that wait for
        other jobs (last, so a job's completion is published before the releases it causes)."""
        from flamenco import notifications
        from flamenco.jobs import dependencies

        try:
            from flamenco.web import live_feed
        except ModuleNotFoundError:
            return [notifications.listener, dependencies.on_changes]
        return [live_feed.on_changes, notifications.listener, dependencies.on_changes]

    def setup_app(self, app: flask.Flask) -> None:
        from flamenco.jobs import hooks as job_hooks
        from flamenco.managers import hooks as manager_hooks
        from flamenco.task_logs import hooks as task_log_hooks
        from flamenco.tasks import hooks as task_hooks

        for module in (manager_hooks, job_hooks, task_hooks, task_log_hooks):
            module.setup_app(app)


# A PATCH operation: (document, request payload, caller) -> optional response.
PatchOp = Callable[[dict, dict, "CurrentUser"], "flask.typing.ResponseReturnValue | None"]


class PatchOps:
    """``PATCH <url_prefix>/<id>`` with ``{"op": "<name>", ...}``, as Pillar's
    AbstractPatchHandler (reference §5.2): one function per operation.

    The document must exist and be visible to the caller (else 404); the
    operation itself checks what the caller may change. Answers 204 unless the
    operation returns a response.
    """

    def __init__(self, name: str, url_prefix: str, collection: str,
                 visible_filter: Callable[[], dict | None]) -> None:
        self.collection = collection
        self.visible_filter = visible_filter
        self.ops: dict[str, PatchOp] = {}
        self.blueprint = flask.Blueprint(name, __name__, url_prefix=url_prefix)
        # Eve's regex converter: the same item URLs as Eve's; other ids 404,
        # which flamenco.errors answers as a 400 for a malformed id.
        self.blueprint.add_url_rule('/<regex("[a-f0-9]{24}"):object_id>', "patch", self.dispatch,
                                    methods=["PATCH"])

    def op(self, name: str) -> Callable[[PatchOp], PatchOp]:
        """Decorator registering a function as operation ``name``."""
        def register(func: PatchOp) -> PatchOp:
            self.ops[name] = func
            return func
        return register

    def visible_document(self, object_id: str) -> dict:
        """The document with this id if the caller may see it, else a 400/404 abort."""
        oid = errors.parse_object_id(object_id, "_id")
        query: dict = {"_id": oid}
        scoping.restrict(query, self.visible_filter())
        doc = current_db()[self.collection].find_one(query)
        if doc is None:
            errors.abort(404, "not found")
        return doc

    def dispatch(self, object_id: str) -> flask.typing.ResponseReturnValue:
        user = scoping.require_user()
        doc = self.visible_document(object_id)
        payload = json_payload()
        op_name = payload.get("op")
        if not isinstance(op_name, str) or not op_name:
            errors.abort(400, "missing operation", {"op": f"required; one of {', '.join(sorted(self.ops))}"})
        func = self.ops.get(op_name)
        if func is None:
            errors.abort(400, f"unknown operation {op_name!r}",
                         {"op": f"must be one of {', '.join(sorted(self.ops))}"})
        result = func(doc, payload, user)
        return result if result is not None else ("", 204)


def json_payload() -> dict:
    """The request's JSON object body, or a 400 saying what is wrong with it."""
    if not flask.request.get_data():
        errors.abort(400, "request body is empty; expected a JSON object")
    payload = flask.request.get_json(force=True, silent=True)
    if payload is None:
        errors.abort(400, "request body is not valid JSON")
    if not isinstance(payload, dict):
        errors.abort(400, "request body must be a JSON object")
    return payload
