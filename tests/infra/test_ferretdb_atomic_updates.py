"""Our FerretDB build applies update statements atomically per document, as MongoDB does.

Upstream FerretDB 1.24 reads, modifies in Go and writes back each document
without a lock, so concurrent ``$inc``s lost increments and two conditional
updates could both match; and its ``$set`` took a document differing from the
stored one only in field names for identical, writing nothing. The per-job
task counts (flamenco.task_counts) rely on both working. The patches are in
``flamenco.farm.services.FERRETDB_PATCHES``. With ``FLAMENCO_TEST_MONGO_URI``
the same checks run on that MongoDB.
"""
from __future__ import annotations

import threading

import pymongo
from pymongo.database import Database

# Concurrent clients and $inc each: upstream lost about 40 % of them.
CLIENTS = 4
INCREMENTS = 200


def _in_threads(count: int, target) -> None:
    threads = [threading.Thread(target=target, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_concurrent_incs_on_one_document_add_up(mongo_uri: str, mongo_db: Database) -> None:
    mongo_db["counters"].insert_one({"_id": 1, "n": 0, "by_key": {}})

    def work(index: int) -> None:
        with pymongo.MongoClient(mongo_uri) as client:
            coll = client.get_default_database()["counters"]
            for _ in range(INCREMENTS):
                coll.update_one({"_id": 1}, {"$inc": {"n": 1, f"by_key.k{index}": 1}})

    _in_threads(CLIENTS, work)
    doc = mongo_db["counters"].find_one({"_id": 1})
    assert doc["n"] == CLIENTS * INCREMENTS
    assert doc["by_key"] == {f"k{i}": INCREMENTS for i in range(CLIENTS)}


def test_a_conditional_update_matches_once(mongo_uri: str, mongo_db: Database) -> None:
    mongo_db["tasks"].insert_many([{"_id": i, "status": "queued"} for i in range(50)])
    claimed = [0] * CLIENTS

    def work(index: int) -> None:
        with pymongo.MongoClient(mongo_uri) as client:
            coll = client.get_default_database()["tasks"]
            for task_id in range(50):
                result = coll.update_one({"_id": task_id, "status": "queued"},
                                         {"$set": {"status": "claimed", "by": index}})
                claimed[index] += result.modified_count

    _in_threads(CLIENTS, work)
    assert sum(claimed) == 50


def test_set_of_a_document_with_other_field_names_is_written(mongo_db: Database) -> None:
    coll = mongo_db["jobs"]
    coll.insert_one({"_id": 1, "task_counts": {"queued": 3}})
    result = coll.update_one({"_id": 1}, {"$set": {"task_counts": {"completed": 3}}})
    assert result.modified_count == 1
    assert coll.find_one({"_id": 1})["task_counts"] == {"completed": 3}
    assert coll.update_one({"_id": 1}, {"$set": {"task_counts": {"completed": 3}}}).modified_count == 0
