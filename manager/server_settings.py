"""Settings an admin changed on the Server: path variables and the worker registration secret.

The Server hands them out in every task-update-batch answer
(``manager_settings``: ``version``, ``variables``?,
``worker_registration_secret``?) until a notification reports that this
Manager runs that version (``manager_settings_version``). Each version
carries the whole desired state, so only the newest one not yet applied
counts. They are kept in the buffer's ``settings`` collection (the
``server_settings`` document), so a restart keeps them, and they win over
the config file: the file is this machine's start-up default, the Server's
copy is the admin's later decision (manager/README.md). The program
variables (``blender``, ``ffmpeg``) are the exception: only the file sets
them (``variables.in_use``).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flamenco_manager import store
from flamenco_manager.engine import on_engine
from flamenco_manager.variables import VariableError, build_lookup, in_use

if TYPE_CHECKING:
    from flamenco_manager.context import ManagerContext

log = logging.getLogger(__name__)

SETTINGS_DOC = "server_settings"
# A registration secret longer than this is not one the Server generated.
MAX_SECRET_LENGTH = 1024


def _doc(settings: dict[str, dict]) -> dict:
    return settings.get(SETTINGS_DOC) or {"_id": SETTINGS_DOC, "version": 0}


def file_or_server_variables(file_variables: dict[str, Any], settings: dict[str, dict]) -> dict[str, Any]:
    """The variables in use given the buffer's settings documents (also before the engine runs)."""
    return in_use(file_variables, _doc(settings).get("variables"))


@on_engine
def variables_in_use(ctx: ManagerContext) -> dict[str, Any]:
    return file_or_server_variables(ctx.config.variables, ctx.state.settings)


@on_engine
def applied_version(ctx: ManagerContext) -> int:
    """The version of the Server's settings this Manager runs (0: none yet)."""
    return int(_doc(ctx.state.settings).get("version") or 0)


def registration_secret(ctx: ManagerContext) -> str:
    """The secret workers sign their registration with: the Server's newest, else the config file's.

    Called from the HTTP handlers, in the engine's loop.
    """
    return _doc(ctx.state.settings).get("worker_registration_secret") or ctx.config.worker_registration_secret


def _checked_variables(ctx: ManagerContext, variables: object) -> dict[str, Any] | None:
    """The Server's variables when this Manager can use them; None (logged) when not."""
    try:
        if not isinstance(variables, dict):
            raise VariableError("variables: expected a mapping")
        build_lookup(in_use(ctx.config.variables, variables))
    except VariableError as ex:
        log.warning("variables from the Server refused, keeping the current ones: %s", ex)
        return None
    return variables


def _checked_secret(secret: object) -> str | None:
    if isinstance(secret, str) and 0 < len(secret) <= MAX_SECRET_LENGTH:
        return secret
    log.warning("worker registration secret from the Server refused (not a string of 1 to %d characters)",
                MAX_SECRET_LENGTH)
    return None


@on_engine
def apply_from_server(ctx: ManagerContext, change: object) -> bool:
    """Take the Server's settings when they are newer than those in use; True when they were
    (the next notification then reports the version).

    A part this Manager cannot use is logged and skipped, and the version is
    still recorded, so the Server stops sending it and its page shows what
    the Manager actually reports.
    """
    version = change.get("version") if isinstance(change, dict) else None
    if not isinstance(version, int) or isinstance(version, bool):
        log.warning("manager_settings from the Server without an integer version; ignored: %.200r", change)
        return False
    assert isinstance(change, dict)
    doc = dict(_doc(ctx.state.settings))
    if version <= doc["version"]:
        return False
    doc["version"] = version
    if "variables" in change and (variables := _checked_variables(ctx, change["variables"])) is not None:
        doc["variables"] = variables
    if "worker_registration_secret" in change and (secret := _checked_secret(change["worker_registration_secret"])):
        doc["worker_registration_secret"] = secret
        log.info("worker registration secret changed by the Server; registrations need the new one")
    ctx.state.settings[SETTINGS_DOC] = doc
    ctx.journal.replace(store.SETTINGS, doc)
    ctx.variables = build_lookup(file_or_server_variables(ctx.config.variables, ctx.state.settings))
    log.info("settings version %d from the Server applied", version)
    return True
