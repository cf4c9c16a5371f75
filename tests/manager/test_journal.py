"""The write-behind journal on a real store: group commit, coalescing, outages."""
from __future__ import annotations

import asyncio
import time

import pymongo
import pytest
from bson import ObjectId

from flamenco.farm import services
from flamenco_manager import store, task_logs
from flamenco_manager.journal import Journal, StoreUnavailable
from flamenco_manager.store import Store


def run(coro):
    return asyncio.new_event_loop().run_until_complete(coro)


def test_one_document_changed_many_times_is_written_once(manager_db_uri):
    buffer = Store(manager_db_uri)

    async def body() -> None:
        journal = Journal(buffer, asyncio.get_running_loop(), commit_timeout=10)
        journal.start()
        task_id = ObjectId()
        journal.replace(store.TASKS, {"_id": task_id, "status": "queued"})
        await journal.commit()
        before = buffer.commands
        for status in ("active", "completed"):
            journal.set(store.TASKS, task_id, {"status": status})
        journal.insert(store.UPDATE_QUEUE, {"_id": ObjectId(), "task_id": task_id, "queued_at_ns": 1})
        await journal.commit()
        assert buffer.commands - before == 2, "one update command for the task, one insert for the queue"
        assert buffer.db[store.TASKS].find_one({"_id": task_id})["status"] == "completed"
        await journal.close()

    try:
        run(body())
    finally:
        buffer.close()


def test_concurrent_commits_share_flushes(manager_db_uri):
    buffer = Store(manager_db_uri)

    async def body() -> None:
        journal = Journal(buffer, asyncio.get_running_loop(), commit_timeout=10)
        journal.start()

        async def request(n: int) -> None:
            journal.insert(store.UPDATE_QUEUE, {"_id": ObjectId(), "task_id": ObjectId(), "queued_at_ns": n})
            await journal.commit()

        await asyncio.gather(*(request(n) for n in range(200)))
        assert buffer.db[store.UPDATE_QUEUE].count_documents({}) == 200
        assert journal.flushes < 50, f"200 requests made {journal.flushes} flushes"
        await journal.close()

    try:
        run(body())
    finally:
        buffer.close()


def test_store_outage_answers_unavailable_then_nothing_is_lost(tmp_path):
    """The store goes away: a commit fails within its time-out; after a restart the change arrives."""
    data = tmp_path / "ferretdb"
    port = services.free_port()
    svc = services.start_ferretdb(data, port=port)
    uri = services.mongo_uri_for(port, "outage")
    buffer = Store(uri)

    async def body() -> None:
        nonlocal svc
        journal = Journal(buffer, asyncio.get_running_loop(), commit_timeout=1.5)
        journal.start()
        journal.insert(store.WORKERS, {"_id": "before"})
        await journal.commit()
        svc.stop()
        journal.insert(store.WORKERS, {"_id": "during"})
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await journal.commit()
        assert time.monotonic() - started < 3, "a worker is answered quickly, not after pymongo's 30 s"
        svc = services.start_ferretdb(data, port=port)
        await asyncio.wait_for(journal.commit(), 30)
        await journal.close()

    try:
        run(body())
        with pymongo.MongoClient(uri) as client:
            ids = {d["_id"] for d in client.get_default_database()[store.WORKERS].find()}
        assert ids == {"before", "during"}
    finally:
        buffer.close()
        svc.stop()


def test_a_document_deleted_and_created_again_in_one_flush_exists_afterwards(manager_db_uri):
    buffer = Store(manager_db_uri)

    async def body() -> None:
        journal = Journal(buffer, asyncio.get_running_loop(), commit_timeout=10)
        journal.start()
        journal.insert(store.TASKS, {"_id": "t", "run": 1})
        await journal.commit()
        journal.delete(store.TASKS, "t")
        journal.insert(store.TASKS, {"_id": "t", "run": 2})
        await journal.commit()
        assert buffer.db[store.TASKS].find_one({"_id": "t"}) == {"_id": "t", "run": 2}
        await journal.close()

    try:
        run(body())
    finally:
        buffer.close()


def test_update_queue_has_no_index_beyond_id(manager_db_uri):
    """Each queued update is inserted and deleted once and never queried by a field: an index would
    only make those writes dearer. A buffer made by an older version loses its index at start-up."""
    buffer = Store(manager_db_uri)
    try:
        buffer.db[store.UPDATE_QUEUE].create_index([("queued_at_ns", 1)])  # as older versions made it
        buffer.ensure_indexes()
        assert list(buffer.db[store.UPDATE_QUEUE].index_information()) == ["_id_"]
        buffer.ensure_indexes()  # and again, with nothing to drop
        assert list(buffer.db[store.UPDATE_QUEUE].index_information()) == ["_id_"]
    finally:
        buffer.close()


def test_log_lines_are_in_their_files_once_committed_and_once_only_across_an_outage(tmp_path):
    """Log files are written beside the store write, never after the answer: a committed line is
    in its file; a flush the store refused writes its lines once, and its retry does not repeat them."""
    data = tmp_path / "ferretdb"
    port = services.free_port()
    svc = services.start_ferretdb(data, port=port)
    buffer = Store(services.mongo_uri_for(port, "logs"))
    logs = tmp_path / "logs"
    job, task = str(ObjectId()), str(ObjectId())
    log_file = task_logs.log_path(logs, job, task)

    async def body() -> None:
        nonlocal svc
        journal = Journal(buffer, asyncio.get_running_loop(), commit_timeout=1.5)
        journal.start()
        journal.append_log(str(logs), job, task, "first")
        journal.insert(store.WORKERS, {"_id": "one"})
        await journal.commit()
        assert log_file.read_text() == "first\n"
        svc.stop()
        journal.append_log(str(logs), job, task, "second")
        journal.insert(store.WORKERS, {"_id": "two"})
        with pytest.raises(StoreUnavailable):
            await journal.commit()
        svc = services.start_ferretdb(data, port=port)
        journal.append_log(str(logs), job, task, "third")
        await asyncio.wait_for(journal.commit(), 30)
        await journal.close()

    try:
        run(body())
        assert log_file.read_text() == "first\nsecond\nthird\n"
        assert {d["_id"] for d in buffer.db[store.WORKERS].find()} == {"one", "two"}
    finally:
        buffer.close()
        svc.stop()
