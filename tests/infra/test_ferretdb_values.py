"""Values come back from our FerretDB build exactly as stored.

The build decodes common scalars (strings without escapes, ObjectIDs, integers,
dates, booleans) directly and parses each distinct document schema once
(``flamenco.farm.services.FERRETDB_PATCHES``, tools/ferretdb-patches/flamenco_sjson.go).
These checks cover the edges of those fast paths and hold for MongoDB too
(``FLAMENCO_TEST_MONGO_URI``).
"""
from __future__ import annotations

import datetime

from bson import Int64, ObjectId

UTC = datetime.timezone.utc
STRINGS = ["", "plain", "with \"quotes\"", "back\\slash", "tab\tnew\nline", "ünïcødé ✓ 🎬", "<b>&amp;</b>",
           "\u0001control", "ends with backslash \\"]
NUMBERS = [0, -1, 2**31 - 1, -2**31, Int64(2**31), Int64(-2**63), Int64(2**63 - 1), 1.5, -0.0, 1e300]
DATES = [datetime.datetime(2026, 12, 3, 17, 0, 0, 123000, tzinfo=UTC), datetime.datetime(1969, 7, 20, 20, 17, tzinfo=UTC),
         datetime.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)]


def test_scalars_round_trip(mongo_db):
    doc = {"strings": STRINGS, "numbers": NUMBERS, "dates": DATES, "flags": [True, False], "id": ObjectId(),
           **{f"s{i}": s for i, s in enumerate(STRINGS)}, **{f"n{i}": n for i, n in enumerate(NUMBERS)},
           **{f"d{i}": d for i, d in enumerate(DATES)}, "yes": True, "no": False, "nothing": None}
    doc_id = mongo_db["values"].insert_one(doc).inserted_id
    found = mongo_db["values"].find_one({"_id": doc_id})
    assert found == {"_id": doc_id, **doc}
    assert [type(found[f"n{i}"]) for i in range(len(NUMBERS))] == [type(n) for n in NUMBERS]


def test_documents_sharing_a_schema_keep_their_own_values(mongo_db):
    """Many documents of one shape (one parsed schema), then the same keys with other types."""
    same = [{"name": f"task {i}", "n": i, "when": DATES[0] + datetime.timedelta(seconds=i), "id": ObjectId()}
            for i in range(500)]
    other = [{"name": i, "n": f"{i}", "when": None, "id": str(i)} for i in range(5)]
    mongo_db["values"].insert_many([*same, *other])
    found = list(mongo_db["values"].find({}, {"_id": 0}))
    assert found == [{k: v for k, v in d.items() if k != "_id"} for d in [*same, *other]]
