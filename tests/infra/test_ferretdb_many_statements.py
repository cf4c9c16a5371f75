"""Our FerretDB build answers write commands of many statements, and stays usable after them.

FerretDB 1.24 kept the query iterator of every statement of an ``update``
command open until the whole command ended; each holds one of the 100
connections of the database's SQLite pool, so a command of 100 statements
waited forever for a connection and every later command on that database hung
with it (the patch in ``flamenco.farm.services.FERRETDB_PATCHES`` closes each
statement's iterator before the next one).

The store is one of this test's own, not the session's: a wedged database must
fail this test only, not hang every later one. With
``FLAMENCO_TEST_MONGO_URI`` the same checks run on that MongoDB.
"""
from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Iterator

import pymongo
import pytest
from bson import ObjectId

from flamenco.farm import services
from tests.support.commands import CommandCounter

# Statements in one command: ten times the pool size that used to wedge FerretDB.
STATEMENTS = 1_000
# Seconds a command may take before the client gives up. The 1,000 statements
# take under a second on FerretDB (2 cores); before the fix the command never
# answered.
COMMAND_TIMEOUT_S = 60


@pytest.fixture
def own_store(tmp_path: Path) -> Iterator[tuple[pymongo.database.Database, CommandCounter]]:
    """A fresh database on a FerretDB of this test's own (or on FLAMENCO_TEST_MONGO_URI), and its command counts."""
    external = os.environ.get("FLAMENCO_TEST_MONGO_URI")
    service = None if external else services.start_ferretdb(tmp_path / "ferretdb")
    counter = CommandCounter()
    client = pymongo.MongoClient(external or service.url, socketTimeoutMS=COMMAND_TIMEOUT_S * 1000,
                                 event_listeners=[counter])
    name = "t_" + uuid.uuid4().hex[:16]
    try:
        yield client[name], counter
    finally:
        try:
            if external:
                client.drop_database(name)
        finally:
            client.close()
            if service:
                service.stop(timeout=2)


def _stored_ids(coll) -> list[ObjectId]:
    ids = [ObjectId() for _ in range(STATEMENTS)]
    coll.insert_many([{"_id": task_id, "n": 0} for task_id in ids])
    return ids


def _later_commands_work(db: pymongo.database.Database, expected_count: int) -> None:
    coll = db["tasks"]
    assert coll.count_documents({}) == expected_count
    extra = coll.insert_one({"n": -1}).inserted_id
    assert coll.update_one({"_id": extra}, {"$set": {"n": -2}}).modified_count == 1
    assert coll.find_one({"_id": extra})["n"] == -2
    assert coll.delete_one({"_id": extra}).deleted_count == 1
    db["other"].insert_one({"x": 1})
    assert db["other"].count_documents({}) == 1


def test_one_update_command_of_1000_statements_is_answered(own_store):
    db, counter = own_store
    coll = db["tasks"]
    ids = _stored_ids(coll)
    started = time.monotonic()
    result = coll.bulk_write([pymongo.UpdateOne({"_id": task_id}, {"$set": {"n": i + 1}})
                              for i, task_id in enumerate(ids)], ordered=False)
    elapsed = time.monotonic() - started
    assert counter.counts.get("update") == 1, counter.counts
    assert (result.matched_count, result.modified_count) == (STATEMENTS, STATEMENTS)
    assert elapsed < COMMAND_TIMEOUT_S
    assert coll.count_documents({"n": {"$gt": 0}}) == STATEMENTS
    assert coll.find_one({"_id": ids[-1]})["n"] == STATEMENTS
    _later_commands_work(db, STATEMENTS)


def test_one_delete_command_of_1000_statements_is_answered(own_store):
    db, counter = own_store
    coll = db["tasks"]
    ids = _stored_ids(coll)
    result = coll.bulk_write([pymongo.DeleteOne({"_id": task_id}) for task_id in ids], ordered=False)
    assert counter.counts.get("delete") == 1, counter.counts
    assert result.deleted_count == STATEMENTS
    _later_commands_work(db, 0)


# Our build writes the statements of one `update` command in one transaction
# when the command ends (tools/ferretdb-patches/flamenco_update_batch.go). Each
# statement must still see what the earlier ones wrote, and a statement that
# fails must not take the earlier ones' writes with it: as on MongoDB.


def test_statements_of_one_command_see_each_others_writes(own_store):
    db, counter = own_store
    coll = db["tasks"]
    ids = _stored_ids(coll)
    requests = [pymongo.UpdateOne({"_id": task_id}, {"$inc": {"n": 1}}) for task_id in ids]
    # The same documents again by _id, then through filters that are not an _id.
    requests += [pymongo.UpdateOne({"_id": ids[0]}, {"$inc": {"n": 10}}),
                 pymongo.UpdateMany({"n": 1}, {"$set": {"seen": True}}),
                 pymongo.UpdateOne({"n": 11}, {"$set": {"first": True}})]
    result = coll.bulk_write(requests, ordered=True)
    assert counter.counts.get("update") == 1, counter.counts
    assert result.modified_count == STATEMENTS + 1 + (STATEMENTS - 1) + 1
    assert coll.find_one({"_id": ids[0]}) == {"_id": ids[0], "n": 11, "first": True}
    assert coll.count_documents({"n": 1, "seen": True}) == STATEMENTS - 1


def test_a_failing_statement_keeps_the_writes_before_it(own_store):
    db, _ = own_store
    coll = db["tasks"]
    ids = _stored_ids(coll)
    coll.update_one({"_id": ids[500]}, {"$set": {"n": "text"}})
    requests = [pymongo.UpdateOne({"_id": task_id}, {"$inc": {"n": 1}}) for task_id in ids]
    # $inc of a string fails at statement 500. (FerretDB's error answer lacks
    # nModified, so PyMongo raises a KeyError instead of a BulkWriteError.)
    with pytest.raises((pymongo.errors.BulkWriteError, KeyError)):
        coll.bulk_write(requests, ordered=True)
    assert coll.count_documents({"n": 1}) == 500
    assert coll.find_one({"_id": ids[500]})["n"] == "text"
    assert coll.count_documents({"n": 0}) == STATEMENTS - 501
    _later_commands_work(db, STATEMENTS)


def test_statements_by_id_and_condition_see_each_others_writes(own_store):
    """As a task-update batch sends them: `_id` plus the status read. Such a statement waits
    only for its own document's earlier write, and still sees it."""
    db, _ = own_store
    coll = db["tasks"]
    ids = _stored_ids(coll)
    requests = [pymongo.UpdateOne({"_id": task_id, "n": 0}, {"$set": {"n": 1}}) for task_id in ids]
    # The first document again, conditional on the write above; the second on a value it no longer has.
    requests += [pymongo.UpdateOne({"_id": ids[0], "n": 1}, {"$set": {"n": 2}}),
                 pymongo.UpdateOne({"_id": ids[1], "n": 0}, {"$set": {"n": 99}})]
    result = coll.bulk_write(requests, ordered=True)
    assert (result.matched_count, result.modified_count) == (STATEMENTS + 1, STATEMENTS + 1)
    assert coll.find_one({"_id": ids[0]})["n"] == 2
    assert coll.find_one({"_id": ids[1]})["n"] == 1
    assert coll.count_documents({"n": 1}) == STATEMENTS - 1
