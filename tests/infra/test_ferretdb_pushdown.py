"""Our FerretDB build pushes ObjectID and plain-string equality down to SQLite without changing any answer.

The pushed-down SQL only pre-selects documents (FerretDB applies the whole
filter afterwards), so it must never leave out a match: in particular MongoDB
equality also matches arrays that contain the value. The answers are checked
here against the rules of MongoDB's query language, on whatever server the
suite runs (FerretDB by default, MongoDB with FLAMENCO_TEST_MONGO_URI); the
pushdown itself is checked through ``explain`` on FerretDB only.
"""
from __future__ import annotations

import pytest
from bson import ObjectId

JOB_A, JOB_B, OTHER = ObjectId(), ObjectId(), ObjectId()


@pytest.fixture
def tasks(mongo_db):
    coll = mongo_db["tasks"]
    coll.create_index([("job", 1)])
    coll.insert_many([
        {"_id": "scalar-a", "job": JOB_A, "status": "queued"},
        {"_id": "scalar-a-done", "job": JOB_A, "status": "completed"},
        {"_id": "scalar-b", "job": JOB_B, "status": "queued"},
        {"_id": "array-with-a", "job": [OTHER, JOB_A], "status": "queued"},
        {"_id": "array-without-a", "job": [OTHER], "status": "queued"},
        {"_id": "string-of-a", "job": str(JOB_A), "status": "queued"},
        {"_id": "document", "job": {"id": JOB_A}, "status": "queued"},
        {"_id": "missing", "status": "queued"},
        {"_id": "status-array", "job": JOB_B, "status": ["paused", "queued"]},
        {"_id": "status-escaped", "job": JOB_B, "status": 'quo"ted\u00e9'},
        {"_id": "status-number", "job": JOB_B, "status": 7},
    ])
    return coll


def found(coll, query: dict) -> set:
    return {doc["_id"] for doc in coll.find(query, {"_id": 1})}


def test_equality_matches_scalars_and_arrays_containing_the_value(tasks):
    assert found(tasks, {"job": JOB_A}) == {"scalar-a", "scalar-a-done", "array-with-a"}


def test_in_matches_any_listed_value(tasks):
    assert found(tasks, {"job": {"$in": [JOB_B, OTHER]}}) == {
        "scalar-b", "array-with-a", "array-without-a", "status-array", "status-escaped", "status-number"}


def test_pushed_down_and_other_conditions_combine(tasks):
    assert found(tasks, {"job": JOB_A, "status": "queued"}) == {"scalar-a", "array-with-a"}
    assert tasks.count_documents({"job": JOB_A, "status": {"$ne": "queued"}}) == 1
    assert found(tasks, {"job": JOB_A, "_id": {"$in": ["scalar-a", "scalar-b"]}}) == {"scalar-a"}


def test_string_equality_matches_strings_and_arrays_containing_them(tasks):
    assert found(tasks, {"job": JOB_B, "status": "queued"}) == {"scalar-b", "status-array"}
    assert found(tasks, {"status": {"$in": ["paused", "completed"]}}) == {"scalar-a-done", "status-array"}
    assert found(tasks, {"status": 'quo"ted\u00e9'}) == {"status-escaped"}
    assert found(tasks, {"job": JOB_B, "status": {"$in": ['quo"ted\u00e9', "queued"]}}) == {
        "scalar-b", "status-array", "status-escaped"}
    assert found(tasks, {"status": "7"}) == set()


def test_writes_and_aggregations_see_the_same_documents(tasks):
    assert tasks.update_many({"job": JOB_A}, {"$set": {"seen": True}}).modified_count == 3
    groups = {g["_id"]: g["n"] for g in tasks.aggregate(
        [{"$match": {"job": {"$in": [JOB_A]}}}, {"$group": {"_id": "$status", "n": {"$sum": 1}}}])}
    assert groups == {"queued": 2, "completed": 1}
    assert tasks.delete_many({"job": JOB_B}).deleted_count == 4
    assert found(tasks, {"job": JOB_B}) == set()


def test_an_id_equality_with_other_conditions(tasks):
    """Only the ``_id`` is pushed down then; the other conditions still decide (a batch statement's shape)."""
    assert found(tasks, {"_id": "scalar-a", "status": "queued"}) == {"scalar-a"}
    assert found(tasks, {"_id": "scalar-a", "status": "completed"}) == set()
    assert found(tasks, {"status": "queued", "_id": "status-array"}) == {"status-array"}
    assert found(tasks, {"_id": "array-with-a", "job": JOB_A, "status": {"$ne": "paused"}}) == {"array-with-a"}
    assert tasks.update_one({"_id": "scalar-a", "status": "completed"}, {"$set": {"status": "active"}}).matched_count == 0
    assert tasks.update_one({"_id": "scalar-a", "status": "queued"}, {"$set": {"status": "active"}}).modified_count == 1
    assert found(tasks, {"_id": "scalar-a", "status": "active"}) == {"scalar-a"}


def test_no_filter_and_empty_in(tasks):
    assert len(found(tasks, {})) == 11
    assert found(tasks, {"job": {"$in": []}}) == set()


def explain(coll, query: dict) -> dict:
    return coll.database.command("explain", {"find": coll.name, "filter": query})


def test_ferretdb_pushes_objectid_and_plain_string_filters_down(tasks):
    if "ferretdbVersion" not in tasks.database.client.admin.command("buildInfo"):
        pytest.skip("pushdown is a property of our FerretDB build")
    plan = explain(tasks, {"job": JOB_A, "status": "queued"})
    assert plan["filterPushdown"] is True
    assert any("USING INDEX" in step and "job" in step for step in plan["queryPlanner"]["Plan"])
    assert explain(tasks, {"job": {"$in": [JOB_A, JOB_B]}})["filterPushdown"] is True
    assert explain(tasks, {"status": "queued"})["filterPushdown"] is True
    assert explain(tasks, {"status": {"$in": ["queued", "claimed-by-manager"]}})["filterPushdown"] is True
    assert explain(tasks, {"job": {"$in": [JOB_A, "an id's text"]}})["filterPushdown"] is False
    assert explain(tasks, {"status": 'quo"ted'})["filterPushdown"] is False
    assert explain(tasks, {"status": 7})["filterPushdown"] is False
    by_id = explain(tasks, {"_id": "scalar-a", "status": "queued", "job": JOB_A})
    assert by_id["filterPushdown"] is True
    steps = by_id["queryPlanner"]["Plan"]
    assert len(steps) == 1 and "SEARCH" in steps[0] and "_id_" in steps[0], f"one _id lookup, not {steps}"


def test_a_very_long_in_list_is_answered(tasks):
    """More ids than SQLite takes parameters in one statement (32,766)."""
    ids = [ObjectId() for _ in range(40_000)] + [JOB_B]
    assert found(tasks, {"job": {"$in": ids}, "status": "queued"}) == {"scalar-b", "status-array"}
    assert found(tasks, {"job": {"$in": ids}, "_id": {"$in": ["scalar-b", "missing"]}}) == {"scalar-b"}


def test_date_ranges_match_dates_and_arrays_holding_one(mongo_db):
    """``{changed: {$gt: t}}``, as the depsgraph asks "tasks changed since", pushed down as a number range."""
    import datetime

    base = datetime.datetime(2026, 12, 3, 12, 0, 0, tzinfo=datetime.timezone.utc)
    coll = mongo_db["changes"]
    coll.insert_many([
        {"_id": "before", "changed": base - datetime.timedelta(seconds=1)},
        {"_id": "at", "changed": base},
        {"_id": "one-ms-after", "changed": base + datetime.timedelta(milliseconds=1)},
        {"_id": "after", "changed": base + datetime.timedelta(hours=1)},
        {"_id": "array", "changed": [base - datetime.timedelta(days=1), base + datetime.timedelta(days=1)]},
        {"_id": "number", "changed": 2**62},
        {"_id": "text", "changed": "2027-01-01"},
        {"_id": "missing"},
    ])
    assert found(coll, {"changed": {"$gt": base}}) == {"one-ms-after", "after", "array"}
    assert found(coll, {"changed": {"$gte": base}}) == {"at", "one-ms-after", "after", "array"}
    assert found(coll, {"changed": {"$lt": base}}) == {"before", "array"}
    assert found(coll, {"changed": {"$gt": base, "$lte": base + datetime.timedelta(hours=1)}}) == {
        "one-ms-after", "after", "array"}
    if "ferretdbVersion" in mongo_db.client.admin.command("buildInfo"):
        assert explain(coll, {"changed": {"$gt": base}})["filterPushdown"] is True
        assert explain(coll, {"changed": {"$gt": base, "$ne": None}})["filterPushdown"] is False


def on_ferretdb(db) -> bool:
    return "ferretdbVersion" in db.client.admin.command("buildInfo")


def plan_steps(coll, query: dict) -> list[str]:
    return explain(coll, query)["queryPlanner"]["Plan"]


def test_an_id_in_with_other_conditions(tasks):
    """The depsgraph's claim: ``{_id: {$in: ids}, job, status}``; only the ids select rows, the rest still decide."""
    query = {"_id": {"$in": ["scalar-a", "scalar-a-done", "array-with-a", "scalar-b"]}, "job": JOB_A,
             "status": "queued"}
    assert found(tasks, query) == {"scalar-a", "array-with-a"}
    assert tasks.update_many(query, {"$set": {"status": "claimed"}}).modified_count == 2
    assert found(tasks, {"status": "claimed"}) == {"scalar-a", "array-with-a"}
    assert found(tasks, {"_id": {"$in": ["scalar-b", "nothing"]}, "status": {"$ne": "queued"}}) == set()
    if on_ferretdb(tasks.database):
        steps = plan_steps(tasks, query)
        assert len(steps) == 1 and "SEARCH" in steps[0] and "_id_" in steps[0], f"_id lookups, not {steps}"


WRITE_TIME = "_updated"


@pytest.fixture
def changes(mongo_db):
    """Documents with a write time (``_updated``), in a collection indexed like the tasks."""
    import datetime

    base = datetime.datetime(2026, 12, 3, 12, 0, 0, tzinfo=datetime.timezone.utc)
    coll = mongo_db["changes"]
    coll.create_index([("job", 1)])
    coll.create_index([(WRITE_TIME, -1)])
    coll.insert_many([
        {"_id": "long-before", "job": JOB_A, WRITE_TIME: datetime.datetime(1999, 1, 1, tzinfo=datetime.timezone.utc)},
        {"_id": "before", "job": JOB_A, WRITE_TIME: base - datetime.timedelta(seconds=1)},
        {"_id": "at", "job": JOB_A, WRITE_TIME: base},
        {"_id": "one-ms-after", "job": JOB_A, WRITE_TIME: base + datetime.timedelta(milliseconds=1)},
        {"_id": "after", "job": JOB_A, WRITE_TIME: base + datetime.timedelta(hours=1)},
        {"_id": "other-job", "job": JOB_B, WRITE_TIME: base + datetime.timedelta(hours=1)},
        {"_id": "array", "job": JOB_A,
         WRITE_TIME: [base - datetime.timedelta(days=1), base + datetime.timedelta(days=1)]},
        {"_id": "same-digits-number", "job": JOB_A, WRITE_TIME: int((base.timestamp() + 60) * 1000)},
        {"_id": "text", "job": JOB_A, WRITE_TIME: "2027-01-01"},
        {"_id": "missing", "job": JOB_A},
    ])
    return coll, base


def test_a_write_time_lower_bound_matches_as_mongodb(changes):
    import datetime

    coll, base = changes
    assert found(coll, {"job": JOB_A, WRITE_TIME: {"$gt": base}}) == {"one-ms-after", "after", "array"}
    assert found(coll, {"job": JOB_A, WRITE_TIME: {"$gte": base}}) == {"at", "one-ms-after", "after", "array"}
    assert found(coll, {WRITE_TIME: {"$gt": base, "$lt": base + datetime.timedelta(minutes=1)}}) == {
        "one-ms-after", "array"}
    assert found(coll, {WRITE_TIME: {"$gt": datetime.datetime(1990, 1, 1, tzinfo=datetime.timezone.utc)}}) == {
        "long-before", "before", "at", "one-ms-after", "after", "other-job", "array"}
    assert coll.count_documents({"job": JOB_A, WRITE_TIME: {"$gt": base}}) == 3


def test_a_write_time_lower_bound_selects_by_its_index(changes):
    """"Changed since" is what an incremental depsgraph asks: its index, not the job's, answers it."""
    coll, base = changes
    if not on_ferretdb(coll.database):
        pytest.skip("the SQL plan is a property of our FerretDB build")
    steps = plan_steps(coll, {"job": JOB_A, WRITE_TIME: {"$gt": base}})
    assert any(WRITE_TIME in step for step in steps) and not any("_job" in step for step in steps), steps


@pytest.fixture
def tasks_by_job_status(tasks):
    """The tasks with a compound index, as the server's tasks have ``job_status``."""
    tasks.create_index([("job", 1), ("status", 1)])
    return tasks


def test_equalities_on_a_compound_index_match_as_mongodb(tasks_by_job_status):
    """Arrays in either field still match; so do ``$in`` lists and keys in any order."""
    coll = tasks_by_job_status
    assert found(coll, {"job": JOB_A, "status": "queued"}) == {"scalar-a", "array-with-a"}
    assert found(coll, {"status": "queued", "job": JOB_B}) == {"scalar-b", "status-array"}
    assert found(coll, {"job": {"$in": [JOB_A, JOB_B]}, "status": {"$in": ["queued", "completed"]}}) == {
        "scalar-a", "scalar-a-done", "scalar-b", "array-with-a", "status-array"}
    assert found(coll, {"job": JOB_B, "status": 'quo"ted\u00e9'}) == {"status-escaped"}
    assert found(coll, {"job": JOB_A, "status": {"$ne": "queued"}}) == {"scalar-a-done"}
    assert coll.update_many({"job": JOB_B, "status": "queued"}, {"$set": {"seen": True}}).modified_count == 2
    assert coll.count_documents({"job": JOB_A, "status": "completed"}) == 1


def test_equalities_on_a_compound_index_select_by_both_of_its_fields(tasks_by_job_status):
    """"The queued tasks of this job" reads those, not every task of the job."""
    coll = tasks_by_job_status
    if not on_ferretdb(coll.database):
        pytest.skip("the SQL plan is a property of our FerretDB build")
    steps = plan_steps(coll, {"job": JOB_A, "status": "queued"})
    assert any("job_1_status_1" in s and "<expr>=? AND <expr>=?" in s for s in steps), steps
