"""The task page shows the whole log, a page at a time, and tails it (issue 14).

Chunks arrive the way Managers send them, in task-update batches through the
real Manager API; uploaded logs are real gzip files in the storage dir.
"""
from __future__ import annotations

import base64
import datetime
import gzip
import json

import pytest
from bson import ObjectId

from flamenco.web import defaults

LOG_JSON = {"Accept": "application/json"}


def push_chunks(app, farm: dict, task_id: ObjectId, *chunks: tuple[str, str]) -> None:
    """One task-update batch carrying ``(received_on_manager, log)`` chunks, as a Manager pushes it."""
    updates = [{"_id": str(ObjectId()), "task_id": str(task_id), "task_status": "active",
                "received_on_manager": at, "log": text} for at, text in chunks]
    auth = base64.b64encode(f"{farm['manager_token']}:".encode()).decode()
    response = app.test_client().post(f"/api/flamenco/managers/{farm['manager']['_id']}/task-update-batch",
                                      json=updates, headers={"Authorization": f"Basic {auth}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["handled_update_ids"] == [u["_id"] for u in updates]


def log_page(client, task: dict, **query: str) -> dict:
    response = client.get(f"/p/spring/tasks/{task['_id']}/log", query_string=query, headers=LOG_JSON)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def walk_back(client, task: dict) -> tuple[str, list[int]]:
    """The whole log read the way the page's "Load earlier" does; and each answer's size."""
    page = log_page(client, task)
    parts, sizes = [page["text"]], [len(page["text"])]
    while page["earlier"]:
        page = log_page(client, task, before=page["start"])
        parts.insert(0, page["text"])
        sizes.append(len(page["text"]))
    return "".join(parts), sizes


@pytest.fixture
def running_task(jobs_of) -> dict:
    return jobs_of(name="render", status="active", task_statuses=("active",))["tasks"][0]


def test_page_shows_the_chunks_in_manager_order(app, alice, farm, running_task):
    # The later chunk arrives first (a batch that was retried): the page still reads in Manager order.
    push_chunks(app, farm, running_task["_id"], ("2026-01-01T10:00:02Z", "Fra:2 rendering"))
    push_chunks(app, farm, running_task["_id"], ("2026-01-01T10:00:01Z", "Fra:1 rendering"),
                ("2026-01-01T10:00:01.500Z", "Fra:1 saved"))
    html = alice.get(f"/p/spring/tasks/{running_task['_id']}").get_data(as_text=True)
    assert "Fra:1 rendering\nFra:1 saved\nFra:2 rendering\n" in html
    assert 'data-source="chunks"' in html
    page = log_page(alice, running_task)
    assert page["text"] == "Fra:1 rendering\nFra:1 saved\nFra:2 rendering\n"
    assert page["source"] == "chunks" and page["earlier"] is False


def test_after_a_cursor_only_new_lines_come(app, alice, farm, running_task):
    push_chunks(app, farm, running_task["_id"], ("2026-01-01T10:00:01Z", "line 1"))
    first = log_page(alice, running_task)
    assert log_page(alice, running_task, after=first["end"])["text"] == ""
    push_chunks(app, farm, running_task["_id"], ("2026-01-01T10:00:02Z", "line 2\nline 3"),
                ("2026-01-01T10:00:03Z", "line 4"))
    new = log_page(alice, running_task, after=first["end"])
    assert new["text"] == "line 2\nline 3\nline 4\n"
    assert new["later"] is False
    again = log_page(alice, running_task, after=new["end"])
    assert again["text"] == "" and again["end"] == new["end"]


def test_a_big_chunked_log_comes_a_page_at_a_time(alice, mongo_db, running_task):
    """About 400 KB of log: no answer carries much more than a page, and the pages add up to the whole log."""
    line = "Fra:{:04d} Mem:1024M | Path Tracing Sample 4/4 " + "x" * 960
    chunks = [{"_id": ObjectId(), "task": running_task["_id"], "log": line.format(n),
               "received_on_manager": datetime.datetime(2026, 1, 1, 10, 0, n // 60, n % 60 * 1000)}
              for n in range(400)]
    mongo_db["flamenco_task_logs"].insert_many(chunks)
    whole = "".join(line.format(n) + "\n" for n in range(400))

    text, sizes = walk_back(alice, running_task)
    assert text == whole
    assert len(sizes) >= 6 and max(sizes) <= defaults.LOG_PAGE_MAX_CHARS
    html = alice.get(f"/p/spring/tasks/{running_task['_id']}").get_data(as_text=True)
    assert line.format(399) in html and line.format(0) not in html
    streamed = alice.get(f"/p/spring/tasks/{running_task['_id']}/log.txt")
    assert streamed.is_streamed and streamed.mimetype == "text/plain"
    assert streamed.get_data(as_text=True) == whole


def test_an_uploaded_log_shows_decompressed_and_paged(alice, mongo_db, storage_dir, jobs_of):
    task = jobs_of(name="render", status="failed", task_statuses=("failed",))["tasks"][0]
    whole = "".join(f"line {n:06d} of the uploaded log, as the Manager kept it\n" for n in range(8000))
    (storage_dir / "logs").mkdir(parents=True)
    (storage_dir / "logs" / "t.log.gz").write_bytes(gzip.compress(whole.encode()))
    mongo_db["flamenco_tasks"].update_one({"_id": task["_id"]}, {"$set": {
        "log_file": {"backend": "local", "file_path": "logs/t.log.gz"}}})
    mongo_db["flamenco_task_logs"].insert_one({"task": task["_id"], "log": "an older chunk",
                                               "received_on_manager": datetime.datetime(2026, 1, 1)})

    page = log_page(alice, task)
    assert page["source"] == "file" and page["earlier"] is True
    assert page["text"].startswith("line ")
    assert page["text"].endswith("line 007999 of the uploaded log, as the Manager kept it\n")
    text, sizes = walk_back(alice, task)
    assert text == whole and max(sizes) <= defaults.LOG_PAGE_MAX_CHARS
    html = alice.get(f"/p/spring/tasks/{task['_id']}").get_data(as_text=True)
    assert "line 007999" in html and "an older chunk" not in html
    assert alice.get(f"/p/spring/tasks/{task['_id']}/log.txt").get_data(as_text=True) == whole


def test_a_damaged_upload_is_explained_not_a_500(alice, mongo_db, storage_dir, jobs_of):
    task = jobs_of(name="render", status="failed", task_statuses=("failed",))["tasks"][0]
    (storage_dir / "logs").mkdir(parents=True)
    (storage_dir / "logs" / "t.log.gz").write_bytes(b"\x1f\x8b" + b"not really gzip" * 10)
    mongo_db["flamenco_tasks"].update_one({"_id": task["_id"]}, {"$set": {
        "log_file": {"backend": "local", "file_path": "logs/t.log.gz"}}})
    page = log_page(alice, task)
    assert page["text"] == "" and "cannot be read" in page["problem"]
    response = alice.get(f"/p/spring/tasks/{task['_id']}")
    assert response.status_code == 200 and "cannot be read" in response.get_data(as_text=True)
    streamed = alice.get(f"/p/spring/tasks/{task['_id']}/log.txt")
    assert streamed.status_code == 200 and "cannot be read" in streamed.get_data(as_text=True)


def test_without_chunks_the_last_lines_show(alice, mongo_db, running_task):
    mongo_db["flamenco_tasks"].update_one({"_id": running_task["_id"]}, {"$set": {"log": "only the tail"}})
    page = log_page(alice, running_task)
    assert page["source"] == "tail" and page["text"] == "only the tail"


@pytest.mark.parametrize("query, field", [({"after": "nonsense"}, "after"), ({"before": "12-zz"}, "before"),
                                          ({"before": "1234"}, "before"),
                                          ({"after": f"1-{'0' * 24}", "before": f"1-{'0' * 24}"}, "after")])
def test_bad_cursors_are_400s_naming_the_parameter(alice, running_task, query, field):
    response = alice.get(f"/p/spring/tasks/{running_task['_id']}/log", query_string=query, headers=LOG_JSON)
    assert response.status_code == 400
    assert field in response.get_json()["_issues"]


def test_accounts_without_the_log_capability_get_no_log(app, client_as, mongo_db, farm, running_task):
    push_chunks(app, farm, running_task["_id"], ("2026-01-01T10:00:01Z", "SECRET PATH /studio/x"))
    mongo_db["users"].update_one({"_id": farm["vic"]["_id"]}, {"$set": {"roles": ["flamenco-viewer"]}})
    vic = client_as("vic")
    html = vic.get(f"/p/spring/tasks/{running_task['_id']}").get_data(as_text=True)
    assert "SECRET PATH" not in html and "may not view task logs" in html
    for path in ("log", "log.txt"):
        response = vic.get(f"/p/spring/tasks/{running_task['_id']}/{path}", headers=LOG_JSON)
        assert response.status_code == 403 and "SECRET PATH" not in response.get_data(as_text=True)
    outsider = client_as("olga").get(f"/p/spring/tasks/{running_task['_id']}/log", headers=LOG_JSON)
    assert outsider.status_code == 404
    assert json.dumps(log_page(client_as("alice"), running_task)).count("SECRET PATH") == 1
