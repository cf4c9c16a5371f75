"""Figures for the data store itself: FerretDB's cost per _id lookup/update and per update_many.

    .venv/bin/python bench/bench_store.py [--docs 10000] [--ferretdb-bin PATH]

Run it once with the default (patched) binary and once with a stock build to
see what the _id-expression patch in ``flamenco.farm.services`` buys.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pymongo

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
            docs = [{"job": i % 10, "status": "queued", "pad": "x" * 300} for i in range(args.docs)]
            timed("insert_many", lambda: len(coll.insert_many(docs).inserted_ids))
            ids = [d["_id"] for d in coll.find({}, {"_id": 1}).limit(100)]
            timed("100 x find_one by _id", lambda: [coll.find_one({"_id": i}) for i in ids] and None)
            timed("100 x update_one by _id", lambda: [coll.update_one({"_id": i}, {"$set": {"s": 1}}) for i in ids]
                  and None)
            timed(f"update_many ({args.docs // 10} docs)",
                  lambda: coll.update_many({"job": 3}, {"$set": {"status": "canceled"}}).modified_count)
        finally:
            svc.stop()


if __name__ == "__main__":
    main()
