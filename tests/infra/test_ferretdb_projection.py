"""Projections on our FerretDB build keep MongoDB's rules: the stored field order, whatever
order the projection names them in, and every value as stored.

The build replaces FerretDB's per-field deep copy in inclusion projections with moving the
same values (``flamenco.farm.services.FERRETDB_PATCHES``, "project without a deep copy per
field"); these checks hold for MongoDB too (``FLAMENCO_TEST_MONGO_URI``).
"""
from __future__ import annotations

import datetime

from bson import ObjectId

STORED = {
    "name": "shot 1", "status": "queued", "settings": {"frames": "1-10", "nested": {"deep": [1, 2, {"x": 3}]}},
    "priority": 50, "parents": [ObjectId(), ObjectId()], "_updated": datetime.datetime(2026, 12, 3, 17, 0,
                                                                                       tzinfo=datetime.timezone.utc),
    "log": "line\n" * 3, "empty": {},
}


def test_inclusion_keeps_the_stored_order_and_values(mongo_db):
    doc_id = mongo_db["projection"].insert_one(dict(STORED)).inserted_id
    projection = {"_updated": 1, "settings": 1, "name": 1, "parents": 1, "status": 1, "empty": 1}
    [found] = mongo_db["projection"].find({"_id": doc_id}, projection)
    assert list(found) == ["_id", "name", "status", "settings", "parents", "_updated", "empty"]
    assert found == {"_id": doc_id, **{k: STORED[k] for k in projection}}


def test_many_documents_each_get_their_own_values(mongo_db):
    docs = [dict(STORED, name=f"shot {i}", settings={"frames": f"{i}-{i}"}, priority=i) for i in range(300)]
    mongo_db["projection"].insert_many(docs)
    found = list(mongo_db["projection"].find({}, {"priority": 1, "settings": 1, "name": 1, "_id": 0}))
    assert found == [{"name": f"shot {i}", "settings": {"frames": f"{i}-{i}"}, "priority": i} for i in range(300)]
    assert all(list(doc) == ["name", "settings", "priority"] for doc in found)


def test_nested_inclusion_keeps_the_stored_order(mongo_db):
    doc_id = mongo_db["projection"].insert_one(dict(STORED)).inserted_id
    [found] = mongo_db["projection"].find({"_id": doc_id}, {"settings.nested": 1, "status": 1, "settings.frames": 1})
    assert list(found) == ["_id", "status", "settings"]
    assert found["settings"] == STORED["settings"] and list(found["settings"]) == ["frames", "nested"]


def test_inclusion_forms_and_missing_fields(mongo_db):
    """The forms of a plain inclusion (1, true, 1.0, _id excluded) and a named field the document lacks."""
    doc_id = mongo_db["projection"].insert_one(dict(STORED)).inserted_id
    for projection in ({"status": 1, "absent": 1, "name": True}, {"name": 1.0, "status": 2, "absent": True}):
        [found] = mongo_db["projection"].find({"_id": doc_id}, projection)
        assert list(found.items()) == [("_id", doc_id), ("name", "shot 1"), ("status", "queued")]
    [found] = mongo_db["projection"].find({"_id": doc_id}, {"_id": 0, "log": 1, "priority": 1})
    assert list(found.items()) == [("priority", 50), ("log", STORED["log"])]
    [found] = mongo_db["projection"].find({"_id": doc_id}, {"_id": False, "status": 0})
    assert "status" not in found and "_id" not in found and found["name"] == "shot 1"


def test_filter_and_sort_on_fields_the_projection_leaves_out(mongo_db):
    """The build decodes only the fields a plain inclusion find needs: projected, filtered, sorted."""
    coll = mongo_db["projection"]
    coll.insert_many([{"_id": i, "name": f"job {i}", "status": "queued" if i % 2 else "active", "priority": 10 - i,
                       "settings": {"frames": f"1-{i}", "chunk": i % 3}, "big": "x" * 100} for i in range(8)])
    by_status = list(coll.find({"status": "active"}, {"name": 1}))
    assert by_status == [{"_id": i, "name": f"job {i}"} for i in (0, 2, 4, 6)]
    sorted_by_priority = [d["_id"] for d in coll.find({}, {"name": 1}).sort("priority", 1)]
    assert sorted_by_priority == [7, 6, 5, 4, 3, 2, 1, 0]
    nested_filter = list(coll.find({"settings.chunk": 0, "priority": {"$lt": 8}}, {"name": 1, "_id": 0}))
    assert nested_filter == [{"name": "job 3"}, {"name": "job 6"}]
    either = [d for d in coll.find({"$or": [{"_id": 1}, {"settings.frames": "1-2"}]}, {"status": 1})]
    assert either == [{"_id": 1, "status": "queued"}, {"_id": 2, "status": "active"}]


def test_id_alone_in_a_projection(mongo_db):
    coll = mongo_db["projection"]
    doc_id = coll.insert_one(dict(STORED)).inserted_id
    assert list(coll.find({"status": "queued"}, {"_id": 1})) == [{"_id": doc_id}]
    [without_id] = coll.find({"_id": doc_id}, {"_id": 0})
    assert without_id == STORED
    [without_name] = coll.find({"status": "queued"}, {"name": 0})
    assert without_name == {k: v for k, v in {"_id": doc_id, **STORED}.items() if k != "name"}
