"""Figures for the data store itself: FerretDB's cost per _id lookup/update, per
query on an indexed ObjectId field (a job's tasks), per update_many, per bulk
write of many UpdateOne (a task-update batch) and per query on a status.

    .venv/bin/python bench/bench_store.py [--docs 10000] [--ferretdb-bin PATH]

Run it once with the default (patched) binary and once with a stock build to
see what the patches in ``flamenco.farm.services`` (FERRETDB_PATCHES) buy.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pymongo
from bson import ObjectId

from flamenco.farm import services


def timed(label: str, func) -> None:
    start = time.perf_counter()
    result = func()
    print(f"{label:<40} {time.perf_counter() - start:8.3f} s  {result if result is not None else ''}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--ferretdb-bin", default=None)
    args = parser.parse_args()
    if args.ferretdb_bin:
        os.environ["FERRETDB_BIN"] = args.ferretdb_bin
    with tempfile.TemporaryDirectory() as tmp:
        svc = services.start_ferretdb(Path(tmp))
        try:
            coll = pymongo.MongoClient(svc.url).bench.tasks
            print(f"store: FerretDB (SQLite) {services.ferretdb_binary()}; cores: {os.cpu_count()}; docs: {args.docs}")
            coll.create_index([("job", 1)])
            jobs = [ObjectId() for _ in range(100)]
            docs = [{"job": jobs[i % 100], "status": "queued", "pad": "x" * 300} for i in range(args.docs)]
            timed("insert_many", lambda: len(coll.insert_many(docs).inserted_ids))
            ids = [d["_id"] for d in coll.find({}, {"_id": 1}).limit(100)]
            timed("100 x find_one by _id", lambda: [coll.find_one({"_id": i}) for i in ids] and None)
            timed("100 x update_one by _id", lambda: [coll.update_one({"_id": i}, {"$set": {"s": 1}}) for i in ids]
                  and None)
            timed(f"10 x find by job ({args.docs // 100} docs each)",
                  lambda: sum(len(list(coll.find({"job": j}))) for j in jobs[:10]))
            timed("count of 10 jobs' docs by status", lambda: coll.count_documents(
                {"job": {"$in": jobs[:10]}, "status": "queued"}))
            timed(f"update_many ({args.docs // 100} docs)",
                  lambda: coll.update_many({"job": jobs[3]}, {"$set": {"status": "canceled"}}).modified_count)
            some = [d["_id"] for d in coll.find({"job": jobs[4]}, {"_id": 1})]
            timed(f"bulk_write of {len(some)} UpdateOne by _id", lambda: coll.bulk_write(
                [pymongo.UpdateOne({"_id": i}, {"$set": {"status": "active", "n": n}}) for n, i in enumerate(some)],
                ordered=False).modified_count)
            timed("find by status (string pushdown)", lambda: len(list(coll.find({"status": "active"}))))
        finally:
            svc.stop()


if __name__ == "__main__":
    main()
