"""The server's store access: where request code gets the database, and the collection names.

Eve adds ``data`` (its data layer) to the Flask app at runtime, so Flask's
type does not know it; this is the one place that reaches through it. Flask is
imported in the call, not here: Celery tasks and the CLI import
:mod:`flamenco.store.collections` without loading the web framework.

What the store costs
--------------------
Production runs on MongoDB. Locally and in CI the store is FerretDB v1.24 on
SQLite (the *local store*), built with Flamenco's patches from
``tools/ferretdb-patches/`` by :mod:`flamenco.farm`. Domain code is written
for both; where a choice is made for the local store's sake, its comment
names one of these facts as ``flamenco.store: <fact>`` and keeps its own
figures (measured in bench/RESULTS.md; reference:
../shared/reference/ferretdb-eve.md). MongoDB has none of these costs and
limits unless a fact says so.

- **scan**: the local store evaluates a filter in Go unless it is pushed down
  to SQLite: upstream only a filter on ``_id`` alone; our build adds an
  ``_id`` equality or ``$in`` among other keys (then only the ids select),
  top-level equality and ``$in`` (at most 10,000 values) of ObjectIds and
  plain strings (on the leading fields of a compound index, such as the
  tasks' ``job_status``, in a shape that index answers), and date ranges
  (``tools/ferretdb-patches/flamenco_pushdown.go``). Any other query (find,
  ``distinct``, delete) decodes every document of the collection, about
  0.1 ms each; indexes do not help it. Every document a query selects or
  returns is decoded in Go as well (in our build only the fields a find
  needs, when it projects a few top-level fields).
- **index-choice**: SQLite keeps no statistics of the local store's tables,
  so among the pushed-down keys it picks an index by rule of thumb: an
  equality wins over an ``$in`` of a few values, and both over a range. An
  equality that holds for most documents (``manager`` of a task: one Manager
  runs most of a farm's tasks) then makes a query read all of them; leave
  such a key out when another key implies it. A lower bound on a write time
  (``_updated``, ``_created``) is the exception: our build marks it as
  selective, so "changed since" selects by its index.
- **count**: every count is a full scan of the collection.
- **write**: each updated document costs far more than the command around
  it: FerretDB reads, decodes, re-encodes and rewrites it, with every index of
  the collection. Upstream v1.24 also committed every document on its own
  (``update_many`` of 1,000 tasks: 10 s when first measured); our build
  writes an update command's documents in one transaction, and a task costs
  about 0.3-0.5 ms (1,000 tasks by ``_id``: 0.3 s without indexes, 0.5 s with
  the tasks' six, 2026-12-03). Inserting is cheaper (``insert_many`` of
  1,000: 0.06 s). Hence each document is written once per change, and new
  documents are inserted in their final state instead of being updated after.
- **insert**: inserting scans nothing, but is not free either: about 2 s per
  10,000 tasks, even in bulk (one round trip on MongoDB).
- **atomic**: upstream FerretDB applies an update by reading the matching
  documents and rewriting them, with no lock (ferretdb-eve.md §5): two
  concurrent conditional writes of one document may both apply, and
  concurrent ``$inc`` may lose counts. Our build serialises update
  statements per collection (``tools/ferretdb-patches/flamenco_update_lock.go``),
  so each statement is atomic per document, as on MongoDB.
- **no-ttl**: no TTL indexes; expired documents are deleted by a periodic job.
- **no-lookup**: no ``$lookup``; a join is two queries joined in Python.
- **operators**: some query operators are missing (Eve's
  ``MONGO_QUERY_BLACKLIST`` in :mod:`flamenco.eve_settings` answers 400 for
  them), v1.24 crashes on a non-array ``$mod`` operand (:mod:`flamenco.queries`
  checks every operand), and ``$pull`` with a condition is ignored (not applied
  to embedded documents): remove entries with ``$pullAll`` or ``$unset``.
- **keys**: a key containing ``.`` or starting with ``$`` is always refused
  (MongoDB refuses it in most positions).
- **nested-arrays**: an array directly inside an array can be neither stored
  nor queried.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from pymongo.database import Database


def current_db() -> Database:
    """The running Eve app's database."""
    import flask

    return cast(Any, flask.current_app).data.driver.db
