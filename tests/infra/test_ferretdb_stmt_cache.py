"""Prepared statements kept by our FerretDB build's SQLite driver give the same answers as fresh ones.

The build keeps each connection's prepared statements by SQL text and reuses
them (``flamenco.farm.services.FERRETDB_PATCHES``,
tools/ferretdb-patches/flamenco_stmt_cache.go). These checks run the same
statement shapes again after what could leave a kept statement stale or
half-run: other values bound, the table dropped and created again, a new
index, a failed statement, and two runs of one query open at once. They hold
for MongoDB too (``FLAMENCO_TEST_MONGO_URI``).
"""
from __future__ import annotations

import pymongo
import pytest
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError


def test_the_same_shapes_with_other_values(mongo_db):
    coll = mongo_db["kept"]
    coll.insert_many([{"_id": i, "status": "queued", "n": i} for i in range(300)])
    for round_ in range(3):
        result = coll.bulk_write([UpdateOne({"_id": i, "status": "queued" if round_ % 2 == 0 else "active"},
                                            {"$set": {"status": "active" if round_ % 2 == 0 else "queued",
                                                      "round": round_}}) for i in range(300)], ordered=False)
        assert result.modified_count == 300
        assert [d["_id"] for d in coll.find({"_id": {"$in": [5, 77, 299]}})] == [5, 77, 299]
        assert coll.find_one({"_id": 123})["round"] == round_
    assert coll.count_documents({"status": "active"}) == 300


def test_a_collection_dropped_and_created_again(mongo_db):
    coll = mongo_db["kept"]
    coll.insert_many([{"_id": i, "v": "old"} for i in range(20)])
    assert coll.find_one({"_id": 3})["v"] == "old"
    coll.drop()
    assert coll.find_one({"_id": 3}) is None
    coll.insert_many([{"_id": i, "v": "new"} for i in range(5)])
    coll.create_index([("v", 1)])
    assert coll.find_one({"_id": 3})["v"] == "new"
    coll.update_one({"_id": 3}, {"$set": {"v": "newer"}})
    assert [d["v"] for d in coll.find({"_id": {"$in": [2, 3]}}).sort("_id", 1)] == ["new", "newer"]
    assert coll.count_documents({}) == 5


def test_a_failed_statement_then_the_same_shape_again(mongo_db):
    coll = mongo_db["kept"]
    coll.create_index([("name", 1)], unique=True)
    coll.insert_one({"_id": 1, "name": "a"})
    with pytest.raises(DuplicateKeyError):
        coll.insert_one({"_id": 2, "name": "a"})
    with pytest.raises(BulkWriteError):
        coll.insert_many([{"_id": 1, "name": "b"}], ordered=True)
    coll.insert_one({"_id": 3, "name": "c"})
    coll.update_one({"_id": 3}, {"$set": {"name": "d"}})
    assert list(coll.find({}, {"_id": 1, "name": 1}).sort("_id", 1)) == [{"_id": 1, "name": "a"},
                                                                         {"_id": 3, "name": "d"}]


def test_one_query_open_twice(mongo_db):
    coll = mongo_db["kept"]
    coll.insert_many([{"_id": i, "group": i % 2} for i in range(50)])
    first = coll.find({"group": 0}, batch_size=3).sort("_id", pymongo.ASCENDING)
    head = [next(first)["_id"] for _ in range(4)]
    second = [d["_id"] for d in coll.find({"group": 0}, batch_size=3).sort("_id", pymongo.ASCENDING)]
    rest = [d["_id"] for d in first]
    assert head + rest == second == list(range(0, 50, 2))
