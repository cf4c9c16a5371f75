"""Start the local data store (FerretDB on SQLite) and Redis as child processes.

Used by the test fixtures and by ``flamenco farm``, so that both run the exact
same services the same way. Production points ``MONGO_URI``/``REDIS_URL`` at
real servers and never calls this module.

FerretDB is built from our own small Go wrapper (``tools/ferretdb-embed``)
because ``go install .../cmd/ferretdb`` produces a binary that panics for a
missing ``version.txt`` (see ../shared/reference/ferretdb-eve.md §1.2).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pymongo
import redis

from flamenco.farm.environment import DATA_DIR_VARIABLE
from flamenco.farm.supervisor import stop_process

REPO_ROOT = Path(__file__).resolve().parents[2]
FERRETDB_SRC = REPO_ROOT / "tools" / "ferretdb-embed"
DEFAULT_DATA_DIR = Path(os.environ.get(DATA_DIR_VARIABLE, REPO_ROOT / ".data"))
# A store that is up answers a ping within this many seconds; FerretDB opens
# its SQLite files lazily, so start-up is normally well under a second.
SERVICE_START_TIMEOUT = 30.0


class ServiceError(RuntimeError):
    """A local service could not be built or started."""


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
# The SQLite driver FerretDB's backend uses (pure Go, no cgo); its version is the one FerretDB requires.
SQLITE_DRIVER_MODULE = "modernc.org/sqlite"
# The C library that driver's SQLite (C translated to Go) runs on.
LIBC_MODULE = "modernc.org/libc"
# libc's functions replaced by tools/ferretdb-patches/flamenco_libc_mem.go: the generated ones are renamed.
LIBC_REPLACED = ("memcmp", "memcpy", "memmove", "memset")


@dataclass(frozen=True)
class SourcePatch:
    """Replace ``old`` by ``new`` in one file of a module's source (FerretDB's unless ``module`` says)."""

    path: str
    old: str
    new: str
    why: str
    module: str = FERRETDB_MODULE


FERRETDB_PATCHES = (
    SourcePatch(
        "internal/types/document_iterator.go",
        "\tresource.Track(iter, iter.token)\n\n\treturn iter\n",
        "\treturn iter // flamenco patch: in-memory iterators are not tracked\n",
        # FerretDB's leak tracker records every iterator in a pprof profile and
        # gives it a finalizer. Documents are iterated many times each: for a
        # find of 10,000 documents that was 13 % of FerretDB's CPU (pprof,
        # 2026-12-03). An unclosed iterator over a document in memory holds
        # nothing but memory, so only the store's own iterators keep the tracker.
        "track no in-memory document iterators",
    ),
    SourcePatch(
        "internal/types/document_iterator.go",
        "\n\tresource.Untrack(iter, iter.token)\n",
        "\n",
        "untrack no in-memory document iterators",
    ),
    SourcePatch(
        "internal/types/array_iterator.go",
        "\tresource.Track(iter, iter.token)\n\n\treturn iter\n",
        "\treturn iter // flamenco patch: in-memory iterators are not tracked\n",
        "track no in-memory array iterators",
    ),
    SourcePatch(
        "internal/types/array_iterator.go",
        "\n\tresource.Untrack(iter, iter.token)\n",
        "\n",
        "untrack no in-memory array iterators",
    ),
    SourcePatch(
        "internal/handler/sjson/sjson.go",
        """	var sch schema
	r = bytes.NewReader(jsch)
	dec = json.NewDecoder(r)
	dec.DisallowUnknownFields()

	if err := dec.Decode(&sch); err != nil {
		return nil, lazyerrors.Error(err)
	}

	if err := checkConsumed(dec, r); err != nil {
		return nil, lazyerrors.Error(err)
	}
""",
        """	sch, err := flamencoSchema(jsch) // flamenco patch: flamenco_sjson.go
	if err != nil {
		return nil, lazyerrors.Error(err)
	}
""",
        # Each distinct schema is parsed once (tools/ferretdb-patches/flamenco_sjson.go).
        "parse each distinct document schema once",
    ),
    SourcePatch(
        "internal/handler/sjson/sjson.go",
        """	if sch == nil {
		return nil, lazyerrors.Errorf("schema is not set")
	}

	var res sjsontype
""",
        """	if sch == nil {
		return nil, lazyerrors.Errorf("schema is not set")
	}

	if v, ok := flamencoFastScalar(data, sch.Type); ok { // flamenco patch: flamenco_sjson.go
		return v, nil
	}

	var res sjsontype
""",
        # Common scalars are decoded directly instead of through a new JSON
        # decoder each (tools/ferretdb-patches/flamenco_sjson.go says why).
        "decode common scalar values directly",
    ),
    SourcePatch(
        "internal/handler/common/projection.go",
        """	projectedWithoutID, err := projectDocumentWithoutID(doc, projection, filter, inclusion)
""",
        """	if inclusion && flamencoPlainInclusion(projection) { // flamenco patch: flamenco_projection.go
		if err = flamencoIncludeFields(doc, projection, projected); err != nil {
			return nil, lazyerrors.Error(err)
		}

		return projected, nil
	}

	projectedWithoutID, err := projectDocumentWithoutID(doc, projection, filter, inclusion) // FerretDB's own path
""",
        # Plain inclusions of top-level fields copy only those fields
        # (tools/ferretdb-patches/flamenco_projection.go says why).
        "project plain inclusions without copying the whole document",
    ),
    SourcePatch(
        "internal/handler/common/projection.go",
        """	tmp := projected.DeepCopy()

	// remove fields of projected from newFieldIndex to the end
	for i := newFieldIndex; i < len(projectedKeys); i++ {
		projected.Remove(projectedKeys[i])
	}

	projected.Set(key, val)

	// copy newFieldIndex-th to the end from tmp to projected
	i := newFieldIndex
	for _, key := range tmp.Keys()[newFieldIndex:] {
		projected.Set(key, must.NotFail(tmp.Get(tmp.Keys()[i])))
		i++
	}
""",
        """	// flamenco patch: move the later fields behind the new one without
	// deep-copying the projected document for every field.
	tail := projectedKeys[newFieldIndex:]
	values := make([]any, len(tail))

	for i, k := range tail {
		values[i] = must.NotFail(projected.Get(k))
		projected.Remove(k)
	}

	projected.Set(key, val)

	for i, k := range tail {
		projected.Set(k, values[i])
	}
""",
        # An inclusion projection deep-copied the projected document once per
        # projected field: 14 % of FerretDB's CPU in a find of 10,000
        # documents with a 10-field projection (pprof, 2026-12-03). The fields
        # removed and set again are the same values, so no copy is needed.
        "project without a deep copy per field",
    ),
    SourcePatch(
        "internal/backends/sqlite/metadata/metadata.go",
        'IDColumn = DefaultColumn + "->\'$._id\'"',
        'IDColumn = DefaultColumn + "->\'_id\'"',
        # The SQLite backend looks documents up by `_ferretdb_sjson->'$._id'`
        # while its unique index is on `_ferretdb_sjson->"_id"`; SQLite matches
        # index expressions textually, so every lookup, update and delete by
        # _id scanned the whole table (reference ferretdb-eve.md §6). `->'_id'`
        # is the same JSON path and matches the index. Measured on 10k
        # documents: 100 update_one by _id 23.3 s -> 0.15 s; update_many of
        # 1,000 documents 234 s -> 1.9 s (bench/bench_store.py).
        "use the _id index",
    ),
    SourcePatch(
        "internal/util/resource/resource.go",
        "\t\tpanic(msg)\n",
        "\t\tif c, ok := obj.(interface{ Close() }); ok {\n\t\t\tc.Close()\n\t\t}\n"
        "\t\tprintln(\"ferretdb-embed: closed a leaked resource:\", msg)\n",
        # FerretDB's leak detector panics in a finalizer when an iterator is
        # garbage-collected unclosed, which killed the whole database in the
        # middle of our test suite. Close the leaked iterator and log instead.
        "close leaked iterators instead of crashing",
    ),
    SourcePatch(
        "internal/backends/sqlite/collection.go",
        """	if params.Filter.Len() == 1 {
		v, _ := params.Filter.Get("_id")
		switch v.(type) {
		case string, types.ObjectID:
			whereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		}
	}

	q += whereClause
""",
        """	whereClause, args = prepareWhereClause(params.Filter, meta.Settings.Indexes)

	q += whereClause
""",
        # Queries push ObjectID equality and $in down to SQLite's indexes
        # (tools/ferretdb-patches/flamenco_pushdown.go says how and why).
        "push ObjectID equality filters down to SQLite (Query)",
    ),
    SourcePatch(
        "internal/backends/sqlite/collection.go",
        """	if params.Filter.Len() == 1 {
		v, _ := params.Filter.Get("_id")
		switch v.(type) {
		case string, types.ObjectID:
			filterPushdown = true
			whereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		}
	}
""",
        """	whereClause, args = prepareWhereClause(params.Filter, meta.Settings.Indexes)
	filterPushdown = whereClause != ""
""",
        # `explain` reports the same pushdown, which is how tests check it.
        "push ObjectID equality filters down to SQLite (Explain)",
    ),
    SourcePatch(
        "internal/handler/msg_update.go",
        "func (h *Handler) updateDocument(ctx context.Context, params *common.UpdateParams) (int32, int32, *types.Array, error) {\n",
        "func (h *Handler) updateDocument(ctx context.Context, params *common.UpdateParams) (_, _ int32, _ *types.Array, retErr error) { //nolint:lll // flamenco patch\n",
        # Named so that the write-behind's final write can report its error.
        "name updateDocument's error result",
    ),
    SourcePatch(
        "internal/handler/msg_update.go",
        """	for _, u := range params.Updates {
""",
        """	// The whole command holds the collection's update lock, and its
	// statements' documents are written in one transaction before it answers
	// (flamenco patch: flamenco_update_lock.go, flamenco_update_batch.go).
	unlock := lockCollectionForUpdate(params.DB, params.Collection)
	defer unlock()

	wb := newWriteBehind()

	defer func() {
		if err := wb.flush(ctx); err != nil && retErr == nil {
			retErr = err
		}
	}()

	for _, u := range params.Updates { // flamenco patch: see above
""",
        "hold the update lock for the whole command; write its documents at the end",
    ),
    SourcePatch(
        "internal/handler/msg_update.go",
        """		res, err := c.Query(ctx, &qp)
		if err != nil {
			return 0, 0, nil, lazyerrors.Error(err)
		}

		closer := iterator.NewMultiCloser()
		defer closer.Close()

		closer.Add(res.Iter)

		iter := common.FilterIterator(res.Iter, closer, u.Filter)

		if !u.Multi {
			iter = common.LimitIterator(iter, closer, 1)
		}

		result, err := common.UpdateDocument(ctx, c, "update", iter, &u)
		if err != nil {
""",
        """		// The statement's query must see what earlier statements wrote (flamenco patch).
		if wb.mustFlushBefore(u.Filter) {
			if err = wb.flush(ctx); err != nil {
				return 0, 0, nil, err
			}
		}

		wb.Collection = c

		res, err := c.Query(ctx, &qp)
		if err != nil {
			return 0, 0, nil, lazyerrors.Error(err)
		}

		// Each statement closes its iterator, and so gives back its pooled
		// SQLite connection, before the next statement (flamenco patch).
		result, err := func() (*common.UpdateResult, error) {
			closer := iterator.NewMultiCloser()
			defer closer.Close()

			closer.Add(res.Iter)

			iter := common.FilterIterator(res.Iter, closer, u.Filter)

			if !u.Multi {
				iter = common.LimitIterator(iter, closer, 1)
			}

			return common.UpdateDocument(ctx, wb, "update", iter, &u)
		}()
		if err != nil {
""",
        # The `update` command closed the query iterator of every statement in
        # a `defer` after its loop, so each statement kept one of the 100
        # connections of the database's SQLite pool (pool/opendb.go) until
        # the command ended: at the 100th statement the write waited forever
        # for a connection, the command never answered and every later command
        # on that database hung until a restart. A limited (UpdateOne)
        # statement does not read its iterator to the end, which is what
        # keeps the connection. `delete` closes each statement's iterator
        # already (execDelete), and findAndModify has a single statement.
        # tests/infra/test_ferretdb_many_statements.py sends 1,000 of each.
        # The statement writes through the command's write-behind: one
        # transaction for all statements instead of one per statement
        # (1,000 UpdateOne by _id: see flamenco_update_batch.go).
        "close each update statement's iterator before the next statement; write through the write-behind",
    ),
    SourcePatch(
        "internal/handler/msg_findandmodify.go",
        """		qp.Filter = params.Query
	}

	queryRes, err := c.Query(ctx, &qp)
""",
        """		qp.Filter = params.Query
	}

	// The same per-collection update lock as `update` (flamenco patch).
	unlock := lockCollectionForUpdate(params.DB, params.Collection)
	defer unlock()

	queryRes, err := c.Query(ctx, &qp)
""",
        # findAndModify is a query and a write by _id too: atomic per document
        # on MongoDB, so serialised with the `update` statements here.
        "lock the collection during findAndModify",
    ),
    SourcePatch(
        "internal/types/identical.go",
        """		for {
			_, aField, err := aIter.Next()
			if errors.Is(err, iterator.ErrIteratorDone) {
				return true
			} else if err != nil {
				panic("types.Identical: " + err.Error())
			}

			_, bField, err := bIter.Next()
			if err != nil {
				panic("types.Identical: " + err.Error())
			}

			if !Identical(aField, bField) {
				return false
			}
		}
""",
        """		for {
			aKey, aField, err := aIter.Next()
			if errors.Is(err, iterator.ErrIteratorDone) {
				return true
			} else if err != nil {
				panic("types.Identical: " + err.Error())
			}

			bKey, bField, err := bIter.Next()
			if err != nil {
				panic("types.Identical: " + err.Error())
			}

			// Field names count too (flamenco patch).
			if aKey != bKey || !Identical(aField, bField) {
				return false
			}
		}
""",
        # `$set` skips a write whose value is identical to the stored one, and
        # upstream's comparison of two documents compared their values only:
        # `$set: {task_counts: {"completed": 3}}` over `{"queued": 3}` was
        # answered nModified 0 and changed nothing. Identical is used only
        # there (handler/common/update.go).
        "compare field names when comparing documents for $set",
    ),
    SourcePatch(
        "internal/handler/common/update.go",
        """func UpdateDocument(ctx context.Context, c backends.Collection, cmd string, iter types.DocumentsIterator, param *Update) (*UpdateResult, error) { //nolint:lll // for readability
	result := new(UpdateResult)
""",
        """func UpdateDocument(ctx context.Context, c backends.Collection, cmd string, iter types.DocumentsIterator, param *Update) (res *UpdateResult, err error) { //nolint:lll // for readability
	// Modified documents are written together, not each in a transaction
	// of its own (flamenco patch); also when a later document fails.
	var pending []*types.Document

	defer func() {
		if len(pending) == 0 {
			return
		}

		if _, ferr := c.UpdateAll(ctx, &backends.UpdateAllParams{Docs: pending}); ferr != nil && err == nil {
			res, err = nil, lazyerrors.Error(ferr)
		}
	}()

	result := new(UpdateResult)
""",
        # update_many of 1,000 documents committed 1,000 transactions: 0.53 s
        # of FerretDB CPU, 0.26 s with one transaction per 1,000 documents.
        "write an update statement's documents in one transaction",
    ),
    SourcePatch(
        "internal/handler/common/update.go",
        """		} else if modified {
			_, err := c.UpdateAll(ctx, &backends.UpdateAllParams{Docs: []*types.Document{doc}})
			if err != nil {
				return nil, lazyerrors.Error(err)
			}
""",
        """		} else if modified {
			pending = append(pending, doc)

			if len(pending) == 1000 {
				docs := pending
				pending = nil

				if _, err = c.UpdateAll(ctx, &backends.UpdateAllParams{Docs: docs}); err != nil {
					return nil, lazyerrors.Error(err)
				}
			}
""",
        "collect the modified documents of an update statement",
    ),
    *(SourcePatch(
        f"internal/util/fsql/{file}",
        f'\t{var}.l.With(fields...).DebugContext(ctx, fmt.Sprintf("{arrow} %s", query))\n',
        f'\tif {var}.l.Enabled(ctx, slog.LevelDebug) {{\n'
        f'\t\t{var}.l.With(fields...).DebugContext(ctx, fmt.Sprintf("{arrow} %s", query)) // flamenco patch\n\t}}\n',
        # Logger.With formats its attributes at once, debug level or not: each
        # SQL statement's arguments (whole JSON documents) were rendered and
        # thrown away, 8 % of FerretDB's CPU in an update_many.
        "format SQL debug lines only when debug logging is on",
    ) for file, var in (("tx.go", "tx"), ("db.go", "db")) for arrow in (">>>", "<<<")),
    # FerretDB decodes every document it reads with encoding/json through a
    # Decoder per nesting level: half of its CPU under the dispatch benchmark.
    # goccy/go-json is a drop-in replacement, about twice as fast here (find
    # of 1,000 tasks 280 -> 160 ms of CPU). FerretDB's own sjson tests pass
    # with it except the exact wording of errors for truncated JSON, which
    # only FerretDB itself ever writes. Its module is added to FerretDB's
    # go.mod here and to tools/ferretdb-embed's go.mod and go.sum.
    SourcePatch(
        "go.mod",
        "module github.com/FerretDB/FerretDB\n",
        "module github.com/FerretDB/FerretDB // flamenco patch: sjson decodes with goccy/go-json\n\n"
        "require github.com/goccy/go-json v0.10.5\n",
        "require goccy/go-json",
    ),
    *(SourcePatch(
        f"internal/handler/sjson/{file}",
        '\t"encoding/json"\n',
        '\tjson "github.com/goccy/go-json" // flamenco patch\n',
        "decode sjson with goccy/go-json",
    ) for file in ("array.go", "binary.go", "bool.go", "datetime.go", "document.go", "double.go", "int32.go",
                   "int64.go", "object_id.go", "regex.go", "schema.go", "sjson.go", "string.go", "timestamp.go")),
    # A find with a plain inclusion projection decodes only the fields it
    # needs (projected, filtered on, sorted by): the job list's index reads 10
    # fields of 10,000 job documents, and decoding their settings and
    # descriptions was most of FerretDB's CPU for it (flamenco_sjson.go's
    # UnmarshalFields, flamenco_projection.go's FlamencoFindFields).
    SourcePatch("internal/backends/collection.go", "\tOnlyRecordIDs bool\n\tComment       string\n}",
                "\tOnlyRecordIDs bool\n\tComment       string\n\n"
                "\tOnlyFields map[string]struct{} // flamenco patch: decode only these top-level fields (nil: all)\n}",
                "let a query name the fields to decode"),
    SourcePatch("internal/backends/sqlite/query_iterator.go", "\tm             sync.Mutex\n\tonlyRecordIDs bool\n}",
                "\tm             sync.Mutex\n\tonlyRecordIDs bool\n\n"
                "\tonlyFields map[string]struct{} // flamenco patch\n}",
                "let a query iterator decode only some fields"),
    SourcePatch("internal/backends/sqlite/query_iterator.go", "if doc, err = sjson.Unmarshal(b); err != nil {",
                "if doc, err = sjson.UnmarshalFields(b, iter.onlyFields); err != nil { // flamenco patch",
                "let a query iterator decode only some fields"),
    SourcePatch("internal/backends/sqlite/collection.go",
                "\t\tIter: newQueryIterator(ctx, rows, params.OnlyRecordIDs),\n",
                "\t\tIter: flamencoOnlyFields(newQueryIterator(ctx, rows, params.OnlyRecordIDs), params.OnlyFields),"
                " // flamenco patch\n",
                "decode only the fields a query names"),
    SourcePatch("internal/handler/msg_find.go",
                "params, cInfo, qp))\n\n\treturn qp, nil\n",
                "params, cInfo, qp))\n\n"
                "\tqp.OnlyFields = common.FlamencoFindFields(params.Projection, params.Filter, params.Sort) // flamenco patch\n\n"
                "\treturn qp, nil\n",
                "decode only the fields a find needs"),
    # The SQLite driver prepares each statement from its text every time it
    # runs: SQLite's parser was 12-18 % of FerretDB's CPU. A connection keeps
    # its prepared statements instead (tools/ferretdb-patches/flamenco_stmt_cache.go;
    # an update of 1,000 tasks: 410-450 -> 280-350 ms of FerretDB CPU).
    SourcePatch("sqlite.go", "\twriteTimeFormat string\n\tbeginMode       string\n}\n",
                "\twriteTimeFormat string\n\tbeginMode       string\n\n"
                "\tflamencoStmts stmtCache // flamenco patch: flamenco_stmt_cache.go\n}\n",
                "give each connection a statement cache", SQLITE_DRIVER_MODULE),
    SourcePatch("sqlite.go", "type stmt struct {\n\tc    *conn\n\tpsql uintptr\n}",
                "type stmt struct {\n\tc    *conn\n\tpsql uintptr\n\tsql  string // flamenco patch: the cache key\n}",
                "keep a statement's text as its cache key", SQLITE_DRIVER_MODULE),
    SourcePatch("sqlite.go", "stm := stmt{c: c, psql: p}", "stm := stmt{c: c, psql: p, sql: sql}",
                "keep a statement's text as its cache key", SQLITE_DRIVER_MODULE),
    SourcePatch("sqlite.go", "if pstmt, err = s.c.prepareV2(&psql); err != nil {",
                "if pstmt, err = s.c.flamencoPrepare(s, &psql); err != nil { // flamenco patch",
                "take prepared statements from the cache", SQLITE_DRIVER_MODULE),
    SourcePatch("sqlite.go", "e := s.c.finalize(pstmt)", "e := s.c.flamencoRelease(pstmt) // flamenco patch",
                "give prepared statements back to the cache", SQLITE_DRIVER_MODULE),
    SourcePatch("sqlite.go",
                "func (r *rows) Close() (err error) {\n\tfor _, v := range r.allocs {\n\t\tr.c.free(v)\n\t}\n"
                "\tr.allocs = nil\n\treturn r.c.finalize(r.pstmt)\n}",
                "func (r *rows) Close() (err error) {\n"
                "\terr = r.c.flamencoRelease(r.pstmt) // flamenco patch: reset, clearing the bindings, before freeing them\n"
                "\tfor _, v := range r.allocs {\n\t\tr.c.free(v)\n\t}\n\tr.allocs = nil\n\treturn err\n}",
                "give a query's statement back to the cache", SQLITE_DRIVER_MODULE),
    SourcePatch("sqlite.go", "\tif c.db != 0 {\n\t\tif err := c.closeV2(c.db); err != nil {",
                "\tif c.db != 0 {\n\t\tc.flamencoStmts.finalizeIdle(c) // flamenco patch\n"
                "\t\tif err := c.closeV2(c.db); err != nil {",
                "finalize the cached statements before a connection closes", SQLITE_DRIVER_MODULE),
    # musl's memcmp/memcpy/memmove/memset as generated Go are byte and word
    # loops: 12-17 % of FerretDB's CPU. Go's vectorised runtime versions
    # replace them (tools/ferretdb-patches/flamenco_libc_mem.go).
    *(SourcePatch("ccgo_linux_amd64.go", f"\nfunc X{name}(tls *TLS, ", f"\nfunc x{name}Musl(tls *TLS, ",
                  f"use Go's runtime for {name}", LIBC_MODULE) for name in LIBC_REPLACED),
)
# Go files of ours added to the patched modules: file name -> (module, directory in the module).
FERRETDB_PATCH_DIR = REPO_ROOT / "tools" / "ferretdb-patches"
FERRETDB_ADDED_SOURCES = {"flamenco_pushdown.go": (FERRETDB_MODULE, "internal/backends/sqlite"),
                          "flamenco_projection.go": (FERRETDB_MODULE, "internal/handler/common"),
                          "flamenco_sjson.go": (FERRETDB_MODULE, "internal/handler/sjson"),
                          "flamenco_update_lock.go": (FERRETDB_MODULE, "internal/handler"),
                          "flamenco_update_batch.go": (FERRETDB_MODULE, "internal/handler"),
                          "flamenco_stmt_cache.go": (SQLITE_DRIVER_MODULE, "."),
                          "flamenco_libc_mem.go": (LIBC_MODULE, ".")}


# Flags of `go build` (with CGO_ENABLED=0): part of the build recipe, so of the cache key.
FERRETDB_BUILD_FLAGS = ("-trimpath",)


def ferretdb_build_key() -> str:
    """A digest of what the FerretDB binary is built from: wrapper, patches, added sources, flags.

    Content, not modification times: a build that was running while a patch
    changed finishes with a newer binary made from the old recipe.
    """
    digest = hashlib.sha256(repr((FERRETDB_PATCHES, sorted(FERRETDB_ADDED_SOURCES.items()),
                                  FERRETDB_BUILD_FLAGS)).encode())
    for path in sorted(p for d in (FERRETDB_SRC, FERRETDB_PATCH_DIR) for p in d.iterdir() if p.is_file()):
        digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def ferretdb_binary(cache_dir: Path | None = None) -> Path:
    """Return the path of the FerretDB wrapper binary, building it if needed.

    ``FERRETDB_BIN`` overrides the lookup. The binary is cached under
    ``<data dir>/bin`` with the :func:`ferretdb_build_key` it was built from
    beside it, and rebuilt when the key differs. Concurrent callers (test
    sessions, ``./dev farm``) build it once: the others wait for the lock.
    """
    env_bin = os.environ.get("FERRETDB_BIN")
    if env_bin:
        return Path(env_bin)
    cache_dir = cache_dir or DEFAULT_DATA_DIR / "bin"
    binary = cache_dir / "ferretdb-embed"
    key_file = cache_dir / "ferretdb-embed.key"
    key = ferretdb_build_key()

    def up_to_date() -> bool:
        return binary.exists() and key_file.exists() and key_file.read_text().strip() == key

    if up_to_date():
        return binary
    if not shutil.which("go"):
        raise ServiceError("Go toolchain not found: needed once to build FerretDB (tools/ferretdb-embed)")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / "ferretdb-embed.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if up_to_date():
            return binary  # another process built it while this one waited
        modfile = _patched_ferretdb_modfile(cache_dir)
        tmp = binary.with_suffix(".tmp")
        _go(["build", *FERRETDB_BUILD_FLAGS, f"-modfile={modfile}", "-o", str(tmp), "."])
        tmp.replace(binary)
        # Written last: a build interrupted before this point is redone.
        key_tmp = key_file.with_suffix(".key-tmp")
        key_tmp.write_text(key + "\n")
        key_tmp.replace(key_file)
    return binary


def _go(args: list[str]) -> str:
    """Run ``go`` in the wrapper's module; return stdout or raise ServiceError."""
    env = dict(os.environ, CGO_ENABLED="0")
    proc = subprocess.run(["go", *args], cwd=FERRETDB_SRC, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ServiceError(f"go {' '.join(args)} failed:\n{proc.stderr[-4000:]}")
    return proc.stdout


def _patched_ferretdb_modfile(cache_dir: Path) -> Path:
    """Copy the patched modules' source, apply FERRETDB_PATCHES, return a go.mod using the copies.

    The copies live in the cache dir (never in the repository); the wrapper's
    own go.mod stays untouched and a separate ``-modfile`` points the build
    at the patched copies (one ``replace`` per module).
    """
    patched = {p.module for p in FERRETDB_PATCHES} | {module for module, _ in FERRETDB_ADDED_SOURCES.values()}
    modules = [FERRETDB_MODULE, *sorted(patched - {FERRETDB_MODULE})]
    sources = {module: _module_copy(cache_dir, module) for module in modules}
    for patch in FERRETDB_PATCHES:
        target = sources[patch.module] / patch.path
        text = target.read_text()
        if patch.old not in text:
            raise ServiceError(f"{patch.module}: {patch.path} changed; review the patch to {patch.why}")
        target.write_text(text.replace(patch.old, patch.new))
    for name, (module, directory) in FERRETDB_ADDED_SOURCES.items():
        shutil.copyfile(FERRETDB_PATCH_DIR / name, sources[module] / directory / name)
    modfile = cache_dir / "ferretdb-patched.mod"
    base = (FERRETDB_SRC / "go.mod").read_text()
    modfile.write_text(base + "\n" + "".join(f"replace {module} => {src}\n" for module, src in sources.items()))
    shutil.copyfile(FERRETDB_SRC / "go.sum", modfile.with_suffix(".sum"))
    return modfile


def _module_copy(cache_dir: Path, module: str) -> Path:
    """A writable copy of ``module``'s source at the version the wrapper's build uses."""
    info = json.loads(_go(["mod", "download", "-json", module]))
    src = cache_dir / f"{module.rsplit('/', 1)[-1].lower()}-src-{info['Version']}"
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(info["Dir"], src)
    for path in src.rglob("*"):
        path.chmod(path.stat().st_mode | 0o200)
    return src


@dataclass
class Service:
    """A child process serving on ``url``; ``stop()`` ends it."""

    name: str
    url: str
    process: subprocess.Popen
    log_path: Path
    extra: dict = field(default_factory=dict)

    def stop(self, timeout: float = 10.0) -> None:
        stop_process(self.process, grace=timeout)


def _wait_until(check: Callable[[], object], proc: subprocess.Popen, log_path: Path, what: str) -> None:
    """Call ``check`` until it returns without raising (the service answers) or the process exits."""
    deadline = time.monotonic() + SERVICE_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"{what} exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            check()
            return
        except Exception:  # noqa: BLE001 - any failure means "not up yet"
            time.sleep(0.1)
    proc.kill()
    raise ServiceError(f"{what} did not come up in {SERVICE_START_TIMEOUT}s:\n{log_path.read_text()[-4000:]}")


def mongo_uri_for(port: int, database: str = "") -> str:
    """The URI options FerretDB needs: no replica-set discovery, no retried writes."""
    return f"mongodb://127.0.0.1:{port}/{database}?directConnection=true&retryWrites=false"


def start_ferretdb(data_dir: Path, port: int | None = None) -> Service:
    """Start FerretDB (SQLite backend) with its files in ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log_path = data_dir / "ferretdb.log"
    proc = subprocess.Popen(
        [str(ferretdb_binary()), f"--listen-addr=127.0.0.1:{port}", f"--data-dir={data_dir / 'sqlite'}"],
        stdout=log_path.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = mongo_uri_for(port)

    def ping() -> None:
        client: pymongo.MongoClient
        with pymongo.MongoClient(url, serverSelectionTimeoutMS=300) as client:
            client.admin.command("ping")

    _wait_until(ping, proc, log_path, "FerretDB")
    return Service("ferretdb", url, proc, log_path, {"port": port})


def start_redis(data_dir: Path, port: int | None = None) -> Service:
    """Start Debian's redis-server on loopback with its files in ``data_dir``."""
    binary = shutil.which("redis-server")
    if not binary:
        raise ServiceError("redis-server not found: install Debian's redis-server package")
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log_path = data_dir / "redis.log"
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
         "--save", "60 1", "--appendonly", "no", "--daemonize", "no"],
        stdout=log_path.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}"
    _wait_until(lambda: redis.Redis.from_url(url, socket_timeout=0.5).ping(), proc, log_path, "Redis")
    return Service("redis", url, proc, log_path, {"port": port})
