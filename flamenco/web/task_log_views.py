"""The task page's log: read a page at a time, tailed live, or streamed whole as text.

``GET .../log`` answers JSON (:class:`flamenco.task_logs.reading.LogPage`):
without arguments the last page of the best source the server has (the
uploaded file, else the chunks Managers sent, else the last lines on the
task); ``?before=<cursor>`` the page before (the "load earlier" button);
``?after=<cursor>`` the chunks that arrived since (the live tail).

Why the page fetches ``?after=`` when the project's live feed announces a
change to the task, rather than polling every 2 s: the update batch that
stores a log chunk already emits that task change (after storing it), so an
open task page asks exactly when there is something new, and a hundred idle
tabs cost nothing. Live events are best-effort (flamenco.web.live_feed), so the
page also asks every ``data-poll-ms`` while the task runs, to catch up after
a missed event or a reconnect.

``GET .../log.txt`` streams the whole log decompressed as plain text, block
by block: the "whole log in the browser" however big it is.

Both need the ``flamenco-view-logs`` capability, like ``/log.gz`` and the
``task_logs`` API.
"""
from __future__ import annotations

from typing import Iterator, Mapping

import flask
from bson import ObjectId

from flamenco.task_logs import reading
from flamenco.web import access, actions, defaults
from flamenco.web.tasks_views import last_page, load_task, uploaded_log
from flamenco.store import current_db

bp = flask.Blueprint("task_log", __name__, url_prefix="/p/<project_url>/tasks")


def readable_task(project_url: str, task_id: str) -> dict:
    """The task, if the user may see it and read task logs (403 otherwise, 404 for an unknown task)."""
    acc = access.project_access(project_url)
    if not acc.may_view_logs:
        raise access.AccessDenied("Your account may not view task logs.")
    return load_task(acc, task_id)


def requested_page(task: dict, args: Mapping[str, str]) -> reading.LogPage:
    """The page the query asks for: the last one, the one ``before`` a cursor, or the chunks ``after`` one."""
    after, before = args.get("after"), args.get("before")
    max_chars = defaults.LOG_PAGE_MAX_CHARS
    if after is not None and before is not None:
        raise reading.CursorError("after", "cannot be combined with before")
    if after is not None:
        return reading.chunks_after(current_db(), task["_id"], reading.ChunkCursor.parse(after, "after"), max_chars)
    if before is None:
        return last_page(task)
    if "-" in before:
        return reading.chunks_before(current_db(), task["_id"], reading.ChunkCursor.parse(before, "before"), max_chars)
    path = uploaded_log(task)
    if path is None:
        raise reading.CursorError("before", "this task has no uploaded log file (any more); reload the page")
    return reading.file_page(path, reading.parse_offset(before, "before"), max_chars)


@bp.route("/<task_id>/log")
@access.login_required
def task_log_page(project_url: str, task_id: str) -> flask.typing.ResponseReturnValue:
    task = readable_task(project_url, task_id)
    try:
        page = requested_page(task, flask.request.args)
    except reading.CursorError as ex:
        raise actions.ActionError(ex.field, ex.reason) from None
    return flask.jsonify(page.as_json())


def _whole_log(task_id: ObjectId, text: str | None) -> Iterator[bytes]:
    """The chunks Managers sent, else the last lines the task holds."""
    sent_any = False
    for chunk in reading.iter_chunks(current_db(), task_id):
        sent_any = True
        yield chunk.encode("utf-8")
    if not sent_any:
        yield (text or "").encode("utf-8")


@bp.route("/<task_id>/log.txt")
@access.login_required
def task_log_text(project_url: str, task_id: str) -> flask.typing.ResponseReturnValue:
    """The whole log as plain text, streamed (the uploaded file decompressed when there is one)."""
    task = readable_task(project_url, task_id)
    path = uploaded_log(task)
    body = reading.iter_file_or_notice(path) if path is not None else _whole_log(task["_id"], task.get("log"))
    return flask.Response(flask.stream_with_context(body), mimetype="text/plain",
                          headers={"Content-Disposition": f'inline; filename="task-{task["_id"]}.log"'})
