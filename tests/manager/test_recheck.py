"""Re-checking a task with the Server before a worker gets it (reference A.4.2, A.5.2 step 5).

The Server is a stand-in HTTP server answering the task GET the way Eve
does (304 for a matching ``If-None-Match``, 200 with the task otherwise, 404
for an unknown task), with per-task scripted answers for the odd cases. The
manager serves real HTTP on real FerretDB; workers are HTTP clients.
"""
from __future__ import annotations

import base64
import contextlib
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator

import pytest
from bson import ObjectId

from flamenco.farm.services import free_port
from flamenco_manager import db as dbmod
from flamenco_manager import sync_requests, tasks
from flamenco_manager.context import ManagerContext
from flamenco_manager.defaults import TASK_PICK_ATTEMPTS
from tests.manager.support import server_task

MANAGER_SECRET = "manager-secret-for-recheck"
TASK_PATH = "/api/flamenco/tasks/"

# A scripted answer: (status, JSON body or raw bytes or None, extra headers).
Answer = tuple[int, object, dict]


class StandInServer:
    """The Server's ``GET /api/flamenco/tasks/<id>``, recording every request it gets."""

    def __init__(self) -> None:
        self.tasks: dict[str, dict] = {}
        self.scripts: dict[str, Callable[[str | None], Answer]] = {}
        self.requests: list[dict] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def answer(self, task_id: str, if_none_match: str | None) -> Answer:
        if task_id in self.scripts:
            return self.scripts[task_id](if_none_match)
        doc = self.tasks.get(task_id)
        if doc is None:
            return 404, {"_status": "ERR", "_error": {"code": 404, "message": "Not Found"}}, {}
        etag = f'"{doc["_etag"]}"'
        if if_none_match == etag:
            return 304, None, {"ETag": etag}
        return 200, {**doc, "_links": {"self": {"href": f"tasks/{task_id}"}}}, {"ETag": etag}

    def requests_for(self, task_id: str) -> list[dict]:
        return [r for r in self.requests if r["task_id"] == task_id]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                task_id = self.path[len(TASK_PATH):] if self.path.startswith(TASK_PATH) else ""
                if_none_match = self.headers.get("If-None-Match")
                stand_in.requests.append({"task_id": task_id, "if_none_match": if_none_match,
                                          "authorization": self.headers.get("Authorization")})
                status, body, headers = stand_in.answer(task_id, if_none_match)
                data = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        return Handler

    @contextlib.contextmanager
    def running(self) -> Iterator["StandInServer"]:
        thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()
            thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[StandInServer]:
    with StandInServer().running() as stand_in:
        yield stand_in


def link(ctx: ManagerContext, url: str, **settings) -> None:
    """Point the manager at ``url``; the scheduler never kicks on its own (-1) unless a test says so."""
    ctx.config = ctx.config.replace(flamenco=url, manager_id=str(ObjectId()), manager_secret=MANAGER_SECRET,
                                    download_task_recheck_throttle=-1, **settings)


@pytest.fixture
def linked(ctx: ManagerContext, server: StandInServer) -> ManagerContext:
    link(ctx, server.url)
    return ctx


def download(ctx: ManagerContext, server: StandInServer, *docs: dict) -> list[dict]:
    """Tasks the manager downloaded; the Server keeps its own copy of each."""
    tasks.store_downloaded(ctx, [dict(d) for d in docs])
    for doc in docs:
        server.tasks[doc["_id"]] = dict(doc)
    return list(docs)


def changed_on_server(server: StandInServer, doc: dict, **fields) -> None:
    """The Server's copy changes (and so does its etag)."""
    server.tasks[doc["_id"]] = {**server.tasks[doc["_id"]], **fields, "_etag": secrets.token_hex(8)}


def cached(ctx: ManagerContext, doc: dict) -> dict:
    return tasks.find_task(ctx, ObjectId(doc["_id"]))


def test_unchanged_task_is_assigned_after_a_conditional_get(linked, server, new_worker):
    worker = new_worker()
    (doc,) = download(linked, server, server_task())
    resp = worker.get_task()
    assert resp.status_code == 200 and resp.json()["_id"] == doc["_id"]
    (request,) = server.requests
    assert request["if_none_match"] == f'"{doc["_etag"]}"'
    assert request["authorization"] == "Basic " + base64.b64encode(f"{MANAGER_SECRET}:".encode()).decode()
    assert cached(linked, doc)["status"] == "active"


def test_task_canceled_on_the_server_goes_to_nobody(linked, server, new_worker):
    first, second = download(linked, server, server_task(priority=90), server_task(priority=10))
    changed_on_server(server, first, status="canceled")
    resp = new_worker(nickname="a").get_task()
    assert resp.status_code == 200 and resp.json()["_id"] == second["_id"], "the other task instead"
    assert cached(linked, first)["status"] == "canceled"
    assert linked.db[dbmod.TASKS_DONE].find_one({"_id": ObjectId(first["_id"])}), "archived as finished"
    assert linked.db[dbmod.UPDATE_QUEUE].count_documents({"task_id": ObjectId(first["_id"])}) == 0, \
        "the Server cancelled it; it need not hear it back"
    assert new_worker(nickname="b").get_task().status_code == 204


def test_unreachable_server_assigns_from_the_cache(ctx, new_worker):
    link(ctx, f"http://127.0.0.1:{free_port()}/")
    worker = new_worker()
    first, second = server_task(priority=90), server_task(priority=10)
    tasks.store_downloaded(ctx, [first, second])
    assert worker.get_task().json()["_id"] == first["_id"]
    assert new_worker(nickname="other").get_task().json()["_id"] == second["_id"]
    assert cached(ctx, first)["status"] == cached(ctx, second)["status"] == "active"


def test_task_unknown_to_the_server_is_canceled_locally(linked, server, new_worker):
    doc = server_task()
    tasks.store_downloaded(linked, [doc])  # the Server does not have it (any more)
    assert new_worker().get_task().status_code == 204
    task = cached(linked, doc)
    assert task["status"] == "canceled"
    assert "404" in task["activity"]
    assert len(server.requests) == 1


def test_three_changed_picks_give_204_and_kick_a_download(linked, server, new_worker):
    docs = [server_task(priority=90 - i) for i in range(TASK_PICK_ATTEMPTS + 1)]
    tasks.store_downloaded(linked, docs)
    server.tasks[docs[-1]["_id"]] = docs[-1]  # only the last is still the Server's
    worker = new_worker()
    before = linked.now()
    assert worker.get_task().status_code == 204
    assert [r["task_id"] for r in server.requests] == [d["_id"] for d in docs[:TASK_PICK_ATTEMPTS]]
    assert sync_requests.kicked_since(linked, before), "a depsgraph download is asked for at once"
    assert worker.get_task().json()["_id"] == docs[-1]["_id"], "the next call finds the unchanged task"


def test_task_that_keeps_changing_is_left_for_later(linked, server, new_worker):
    (doc,) = download(linked, server, server_task())

    def new_etag_every_time(_if_none_match: str | None) -> Answer:
        return 200, {**server.tasks[doc["_id"]], "_etag": secrets.token_hex(8)}, {}

    server.scripts[doc["_id"]] = new_etag_every_time
    assert new_worker().get_task().status_code == 204
    assert len(server.requests) == TASK_PICK_ATTEMPTS
    assert cached(linked, doc)["status"] == "claimed-by-manager", "still waiting for a worker"
    assert linked.db[dbmod.CLAIMS].count_documents({}) == 0, "and nobody holds its claim"


def test_changed_runnable_task_is_assigned_with_the_servers_copy(linked, server, new_worker):
    (doc,) = download(linked, server, server_task())
    new_commands = [{"name": "echo", "settings": {"message": "changed on the server"}}]
    changed_on_server(server, doc, status="queued", commands=new_commands)
    resp = new_worker().get_task()
    assert resp.status_code == 200
    assert resp.json()["commands"] == new_commands
    assert [r["if_none_match"] for r in server.requests] == [f'"{doc["_etag"]}"',
                                                             f'"{server.tasks[doc["_id"]]["_etag"]}"']


@pytest.mark.parametrize("status", [500, 503, 302])
def test_answers_that_say_nothing_assign_from_the_cache(linked, server, new_worker, status):
    (doc,) = download(linked, server, server_task())
    # A followed redirect would land on an unknown task (404) and cancel it.
    server.scripts[doc["_id"]] = lambda _etag: (status, {"_status": "ERR"},
                                                {"Location": f"{TASK_PATH}{ObjectId()}"})
    resp = new_worker().get_task()
    assert resp.status_code == 200 and resp.json()["_id"] == doc["_id"]
    assert len(server.requests) == 1


@pytest.mark.parametrize("answer", [(200, b"<html>not json</html>", {}), (200, {"_id": "someone else"}, {}),
                                    (204, None, {}), (403, {"_status": "ERR"}, {})])
def test_undecodable_or_refusing_answers_cancel_the_task(linked, server, new_worker, answer):
    (doc,) = download(linked, server, server_task())
    server.scripts[doc["_id"]] = lambda _etag: answer
    assert new_worker().get_task().status_code == 204
    assert cached(linked, doc)["status"] == "canceled"


def test_cancel_request_from_the_server_cancels_at_once(linked, server, new_worker):
    (doc,) = download(linked, server, server_task())
    changed_on_server(server, doc, status="cancel-requested")
    assert new_worker().get_task().status_code == 204
    assert cached(linked, doc)["status"] == "canceled"
    queued = linked.db[dbmod.UPDATE_QUEUE].find_one({"task_id": ObjectId(doc["_id"])})
    assert queued["task_status"] == "canceled", "the Server waits to hear it was cancelled"


def test_local_status_waiting_to_go_up_survives_the_servers_copy(linked, server, new_worker):
    (doc,) = download(linked, server, server_task())
    first = new_worker(nickname="first")
    assert first.get_task().json()["_id"] == doc["_id"]
    assert first.return_task(doc["_id"]).status_code == 204  # re-queued here, not pushed yet
    changed_on_server(server, doc, status="active")  # the Server heard only "active" so far
    resp = new_worker(nickname="second").get_task()
    assert resp.status_code == 200 and resp.json()["_id"] == doc["_id"]
    assert cached(linked, doc)["_etag"] == server.tasks[doc["_id"]]["_etag"], "the rest of the copy was taken"


def test_rechecks_can_be_turned_off(ctx, server, new_worker):
    link(ctx, server.url, recheck_task_before_assigning=False)
    doc = server_task()
    tasks.store_downloaded(ctx, [doc])  # a re-check would get 404 and cancel it
    assert new_worker().get_task().json()["_id"] == doc["_id"]
    assert server.requests == []
