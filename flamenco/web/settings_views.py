"""The Settings page: the Managers a user administers (path variables, registration secret, workers'
sleep schedules) and, for everyone logged in, the Blender add-on as a zip.

The page is rendered from the database; its script (``src/scripts/modules/settings.js``)
sends changes to the REST APIs (``flamenco.managers.settings_routes`` and the
worker actions of ``flamenco.workers.routes``), which check permissions and
input, and reloads. Changes reach a Manager on its next sync, so the page
says which ones it has not confirmed yet.
"""
from __future__ import annotations

import functools
import io
import zipfile
from pathlib import Path

import flask

from flamenco import clock
from flamenco.managers import settings as manager_settings
from flamenco.managers import user_is_owner
from flamenco.managers.settings_routes import settings_view
from flamenco.web import access, managers_views
from flamenco.workers import actions, registry
from flamenco.workers import defaults as worker_defaults
from flamenco.store import current_db
from flamenco.store.collections import MANAGERS

bp = flask.Blueprint("settings", __name__, url_prefix="/settings")

# The add-on's package in the source tree; Blender installs a zip whose top folder is this package.
ADDON_PACKAGE = Path(__file__).resolve().parents[2] / "addon" / "flamenco_submit"
ADDON_ZIP_NAME = "flamenco_submit.zip"
# Python's caches and editor leftovers have no place in what Blender installs.
ADDON_SKIPPED_SUFFIXES = (".pyc", ".pyo", "~")
DAY_NAMES = ("mo", "tu", "we", "th", "fr", "sa", "su")


@functools.cache
def addon_zip() -> bytes:
    """The add-on as a zip, built once per process (the files only change with a deployment)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(ADDON_PACKAGE.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and not path.name.endswith(ADDON_SKIPPED_SUFFIXES):
                archive.write(path, str(Path(ADDON_PACKAGE.name) / path.relative_to(ADDON_PACKAGE)))
    return buffer.getvalue()


def variable_rows(variables: dict) -> list[dict]:
    """Variables as table rows: ``{name, direction, values: {platform: path}}``, by name."""
    rows = []
    for name, spec in sorted(variables.items()):
        values: dict[str, str] = {}
        for value in (spec or {}).get("values") or ():
            for platform in [*(value.get("platforms") or ()), *([value["platform"]] if value.get("platform") else [])]:
                values[platform] = value.get("value", "")
        rows.append({"name": name, "direction": (spec or {}).get("direction", "oneway"), "values": values})
    return rows


def _administered_managers() -> list[dict]:
    """The Managers the user may see and change, by name."""
    user = access.current_user()
    found = current_db()[MANAGERS].find(managers_views.visible_manager_filter(user)).sort("name", 1)
    return [m for m in found if user_is_owner(user, m)]


def _pending_schedules(manager: dict) -> dict[str, dict]:
    """Schedules set here that the Manager has not confirmed yet, by worker id (the newest wins)."""
    return {a["worker"]: a["schedule"] for a in actions.pending(manager, clock.utcnow())
            if a["action"] == worker_defaults.SET_SLEEP_SCHEDULE}


def _workers_by_manager(managers: list[dict]) -> dict[str, list[dict]]:
    """Each Manager's reported workers, with ``pending_schedule`` when one waits for the Manager."""
    by_manager: dict[str, list[dict]] = {str(m["_id"]): [] for m in managers}
    pending = {m["_id"]: _pending_schedules(m) for m in managers}
    for worker in registry.workers_of(current_db(), [m["_id"] for m in managers]):
        worker["pending_schedule"] = pending[worker["manager"]].get(worker["worker_id"])
        by_manager[str(worker["manager"])].append(worker)
    for workers in by_manager.values():
        workers.sort(key=lambda w: (w.get("nickname") or "").lower())
    return by_manager


@bp.route("/")
@access.login_required
def settings_page() -> flask.typing.ResponseReturnValue:
    managers = _administered_managers()
    return flask.render_template(
        "settings.html", managers=[settings_view(m) for m in managers], workers=_workers_by_manager(managers),
        platforms=manager_settings.PLATFORMS, directions=manager_settings.DIRECTIONS, day_names=DAY_NAMES,
        variable_rows=variable_rows,
        settings_api=flask.url_for("manager_settings_api.get_settings", manager_id="MANAGER"),
        actions_url_template=flask.url_for("workers.workers_api.queue_action", manager_id="MANAGER",
                                           worker_id="WORKER"))


@bp.route("/addon/" + ADDON_ZIP_NAME)
@access.login_required
def addon_download() -> flask.typing.ResponseReturnValue:
    """The Blender add-on; install it with Edit > Preferences > Add-ons > Install."""
    if not ADDON_PACKAGE.is_dir():
        flask.abort(404, description="This server was installed without the Blender add-on's sources.")
    return flask.send_file(io.BytesIO(addon_zip()), mimetype="application/zip", as_attachment=True,
                           download_name=ADDON_ZIP_NAME, max_age=0)
